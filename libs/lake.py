"""The one module that reads and writes Delta tables, path-based or in a metastore catalog."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlparse

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pmkt.libs import contracts
from pmkt.libs.config import LakeConfig
from pmkt.libs.errors import MissingInput, UserError
from pmkt.libs.frames import one
from pmkt.libs.log import get_logger
from pmkt.libs.tables import IDENTIFYING, STATS_COLUMNS, TableId

SNAPSHOT = "snapshot_date"  # the partition column of every snapshot table
log = get_logger(__name__)
STATS_PROPERTY = "delta.dataSkippingStatsColumns"
STATS_TYPES = (T.NumericType, T.DateType, T.TimestampType)  # in tables of customers: no strings (see IDENTIFYING)


def _stats_properties(columns: Sequence[str]) -> dict[str, str]:
    """Statistics on exactly these columns; none at all when there are none."""
    return {STATS_PROPERTY: ",".join(columns)} if columns else {"delta.dataSkippingNumIndexedCols": "0"}


def _quoted(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"`{name}`"


# Delta's optimistic-concurrency failures: another writer committed first (the write may be retried).
CONFLICTS = (
    "DELTA_CONCURRENT",
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "ProtocolChangedException",
    "MetadataChangedException",
    "DELTA_PROTOCOL_CHANGED",
    "DELTA_METADATA_CHANGED",
)


def is_conflict(exc: BaseException) -> bool:
    return any(marker in str(exc) for marker in CONFLICTS)


COMMIT_ATTEMPTS = 3
R = TypeVar("R")


def _committed(table: TableId, commit: Callable[[], R]) -> R:
    """One Delta commit, made again when another writer's commit conflicted with it (at most COMMIT_ATTEMPTS times).

    A commit that lost a conflict changed nothing, and each attempt reads the table afresh, so trying again is safe.
    Two writers of one process meet here: the pipeline's lanes both append to the model metrics and the run ledger,
    and the first appends to a table that does not exist yet race to create it.
    """
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            return commit()
        except Exception as exc:
            if attempt == COMMIT_ATTEMPTS or not is_conflict(exc):
                raise
            log.info("%s: another writer committed first; committing again (attempt %d)", table, attempt + 1)
    raise AssertionError("unreachable")


FAILPOINT = "PMKT_KILL_AFTER"  # crash tests: `name[#n]` SIGKILLs this process after the n-th commit to `name`
_commits: dict[str, int] = {}


def failpoint(name: str) -> None:
    """Die like a killed job right after a commit to `name` (a table, or `mlflow.<registered model>`), so tests
    can prove a re-run converges (no-op unless PMKT_KILL_AFTER is set)."""
    target = os.environ.get(FAILPOINT)
    if not target:
        return
    _commits[name] = _commits.get(name, 0) + 1
    wanted, _, nth = target.partition("#")
    if wanted == name and _commits[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


class Lake:
    """Resolves `TableId`s to Delta locations and owns every write mode the jobs use."""

    def __init__(self, spark: SparkSession, config: LakeConfig) -> None:
        self.spark = spark
        self.config = config
        self._stats_checked: set[TableId] = set()

    @property
    def by_name(self) -> bool:
        return self.config.catalog is not None

    def location(self, table: TableId) -> str:
        if self.by_name:
            return f"{self.config.catalog}.{self.config.schema_prefix}{table.layer}.{table.name}"
        return table.path_under(self.config.root)

    def exists(self, table: TableId) -> bool:
        if self.by_name:
            return self.spark.catalog.tableExists(self.location(table))
        return DeltaTable.isDeltaTable(self.spark, self.location(table))

    def read(self, table: TableId) -> DataFrame:
        if not self.exists(table):
            raise MissingInput(
                f"table {table} does not exist yet at {self.location(table)}: run the job that writes it first"
            )
        if self.by_name:
            return self.spark.read.table(self.location(table))
        return self.spark.read.format("delta").load(self.location(table))

    def read_if_exists(self, table: TableId) -> DataFrame | None:
        """The table, or None when the job that writes it hasn't run (optional inputs)."""
        return self.read(table) if self.exists(table) else None

    def delta(self, table: TableId) -> DeltaTable:
        if self.by_name:
            return DeltaTable.forName(self.spark, self.location(table))
        return DeltaTable.forPath(self.spark, self.location(table))

    def version(self, table: TableId) -> int | None:
        if not self.exists(table):
            return None
        return int(one(self.delta(table).history(1).select("version"))[0])

    def write(
        self,
        df: DataFrame,
        table: TableId,
        mode: str,
        replace_where: str | None = None,
        partition_by: Sequence[str] = (),
        merge_schema: bool = False,
        txn: tuple[str, int] | None = None,
    ) -> None:
        """Write with an explicit mode: overwrite, append, or overwrite of the `replace_where` slice.

        With `txn` (application id, version), Delta skips the write when this table already committed that
        version for that application: a streaming micro-batch that is run again writes nothing twice.
        """
        if mode not in ("overwrite", "append"):
            raise ValueError(f"unsupported write mode {mode}")
        contracts.check(table, df.schema)
        writer = df.write.format("delta").mode(mode)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if merge_schema:
            writer = writer.option("mergeSchema", "true")
        if txn is not None:
            writer = writer.option("txnAppId", txn[0]).option("txnVersion", txn[1])
        stats = self._stats_columns(table, df, partition_by)
        if stats is not None:
            for key, value in _stats_properties(stats).items():
                writer = writer.option(key, value)

        def commit() -> None:  # asks afresh whether the table exists: a losing first write may find it created
            slice_only = replace_where is not None and self.exists(table)
            out = writer.option("replaceWhere", replace_where) if slice_only else writer
            if stats is not None:
                self._limit_stats(table, stats)
            if self.by_name:
                self._ensure_schema(table)
                out.saveAsTable(self.location(table))
            else:
                out.save(self.location(table))

        _committed(table, commit)
        failpoint(str(table))

    def merge(
        self, df: DataFrame, table: TableId, keys: Sequence[str], update: bool, change_col: str | None = None
    ) -> dict[str, int]:
        """Upsert `df` (unique on `keys`) into `table`; returns rows inserted and updated by this MERGE.

        With `update`, a matched row is replaced only when `change_col` (a content hash) differs,
        so re-merging identical rows changes nothing. The counts are the MERGE's own result, not the
        table's latest commit (a MERGE that changes nothing makes no commit).
        """
        if not self.exists(table):
            # Into nothing, a MERGE only inserts: a plain append does the same without joining every row with an
            # empty table. The count is still Delta's own, from the commit's metrics, never assumed.
            self.write(df, table, mode="append")
            metrics = one(self.delta(table).history(1).select("operationMetrics"))[0]  # one commit's metrics
            return {"inserted": int(metrics["numOutputRows"]), "updated": 0}
        contracts.check(table, df.schema)
        stats = self._stats_columns(table, df)
        if stats is not None:
            self._limit_stats(table, stats)
        condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        changed = f"NOT (t.`{change_col}` <=> s.`{change_col}`)" if change_col else None

        def commit() -> Row:
            merge = self.delta(table).alias("t").merge(df.alias("s"), condition)
            if update:
                merge = merge.whenMatchedUpdateAll(condition=changed)
            return one(merge.whenNotMatchedInsertAll().execute())  # one row of counts

        result = _committed(table, commit)
        failpoint(str(table))
        return {"inserted": int(result["num_inserted_rows"]), "updated": int(result["num_updated_rows"])}

    def delete_matching(self, table: TableId, keys: DataFrame, on: str) -> None:
        """Delete the rows `on` matches in `keys` (a MERGE), so the values never appear in the commit's predicate."""
        _committed(table, lambda: self.delta(table).alias("t").merge(keys.alias("s"), on).whenMatchedDelete().execute())
        failpoint(str(table))

    def delete(self, table: TableId, condition: Column) -> None:
        """Delete the rows matching `condition` (one Delta commit)."""
        _committed(table, lambda: self.delta(table).delete(condition))
        failpoint(str(table))

    def read_snapshot(self, table: TableId, day: dt.date) -> DataFrame:
        """One snapshot of a snapshot table (Delta prunes the other partitions)."""
        return self.read(table).where(F.col(SNAPSHOT) == F.lit(day))

    def latest_snapshot(self, table: TableId, requested: str | None = None) -> dt.date:
        """The requested snapshot date if `table` has it, else its latest one."""
        if not self.exists(table):
            raise MissingInput(f"{table} does not exist yet: run the job that writes it first")
        dates = self.read(table).select(SNAPSHOT).distinct()
        if requested:
            wanted = dt.date.fromisoformat(requested)
            if dates.where(F.col(SNAPSHOT) == F.lit(wanted)).count() == 0:
                raise UserError(f"snapshot {requested} not found in {table}")
            return wanted
        latest = one(dates.agg(F.max(SNAPSHOT)))[0]
        if latest is None:
            raise MissingInput(f"{table} is empty")
        return latest

    def latest_rows(self, table: TableId) -> DataFrame | None:
        """The newest snapshot's rows of a snapshot table, or None when the table doesn't exist."""
        if not self.exists(table):
            return None
        return self.read_snapshot(table, self.latest_snapshot(table))

    def write_snapshot(self, df: DataFrame, table: TableId, day: dt.date) -> None:
        """Replace exactly one `snapshot_date` of a snapshot table; other snapshots stay as they are.

        New columns are added to the table (older snapshots read them as null), so a feature set can
        grow without a rebuild.
        """
        self.write_snapshots(df, table, [day])

    def write_snapshots(self, df: DataFrame, table: TableId, days: Sequence[dt.date]) -> None:
        """`write_snapshot` for several days in one commit: exactly those `snapshot_date`s are replaced."""
        listed = ", ".join(f"'{d.isoformat()}'" for d in sorted(set(days)))
        self.write(
            df,
            table,
            mode="overwrite",
            replace_where=f"{SNAPSHOT} IN ({listed})",
            partition_by=[SNAPSHOT],
            merge_schema=True,
        )

    def check_writable(self) -> None:
        """Fail early, with one line, when a local lake root can't be written."""
        if self.by_name:
            return
        parsed = urlparse(self.config.root)
        if parsed.scheme not in ("", "file"):
            return  # object stores and DBFS report their own errors on first write
        root = parsed.path if parsed.scheme else self.config.root
        try:
            os.makedirs(root, exist_ok=True)
            probe = os.path.join(root, f".write-probe-{uuid.uuid4().hex}")
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as exc:
            raise UserError(f"lake root '{self.config.root}' is not writable: {exc.strerror}") from None

    def _stats_columns(self, table: TableId, df: DataFrame, partition_by: Sequence[str] = ()) -> tuple[str, ...] | None:
        """The columns Delta may keep min/max statistics on; None where its default (the first 32) is fine."""
        if table in STATS_COLUMNS:
            return STATS_COLUMNS[table]
        if not set(df.columns) & set(IDENTIFYING):
            return None
        return tuple(
            _quoted(f.name)
            for f in df.schema.fields
            if f.name not in (*IDENTIFYING, *partition_by) and isinstance(f.dataType, STATS_TYPES)
        )

    def _limit_stats(self, table: TableId, wanted: Sequence[str]) -> None:
        """Bring an existing table in line (once per table and session; a no-op when it already is)."""
        if table in self._stats_checked or not self.exists(table):
            return
        detail = one(self.delta(table).detail().select("properties", "partitionColumns"))
        present = {_quoted(c) for c in self.read(table).columns} - {_quoted(c) for c in detail[1]}
        wanted_properties = _stats_properties([c for c in wanted if c in present])
        current = detail[0] or {}
        if any(current.get(k) != v for k, v in wanted_properties.items()):
            if STATS_PROPERTY not in wanted_properties and STATS_PROPERTY in current:
                self.spark.sql(f"ALTER TABLE {self._sql_name(table)} UNSET TBLPROPERTIES ('{STATS_PROPERTY}')")
            assignments = ", ".join(f"'{k}' = '{v}'" for k, v in wanted_properties.items())
            self.spark.sql(f"ALTER TABLE {self._sql_name(table)} SET TBLPROPERTIES ({assignments})")
        self._stats_checked.add(table)

    def _sql_name(self, table: TableId) -> str:
        return self.location(table) if self.by_name else f"delta.`{self.location(table)}`"

    def _ensure_schema(self, table: TableId) -> None:
        schema = f"{self.config.catalog}.{self.config.schema_prefix}{table.layer}"
        self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def count_rows(lake: Lake, table: TableId) -> int:
    """Row count of a table, computed by Spark (never collected row by row)."""
    return int(one(lake.read(table).select(F.count(F.lit(1))))[0])
