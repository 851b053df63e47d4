"""Which landed files are new, recording them once ingested, and clearing what a killed run left behind.

An entity's ingest writes bronze, quarantine, silver, `bronze.ingest_runs` and, last, its files in
`bronze.ingested_files`: that last append is the commit point. A run killed before it leaves rows that
carry the files' identity (path, size, modification time) but no record of the files, so the next run
reads the files again and first deletes those rows. The silver MERGE is idempotent, so the re-run
converges on the tables an uninterrupted run writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.ingest.report import STREAM_PREFIX
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger

log = get_logger(__name__)
FILE_KEYS = ("_source_file", "_file_size", "_file_mtime")


def new_files_only(lake: Lake, entity: str, raw: DataFrame) -> DataFrame:
    """Rows from files not ingested before (same path, size and modification time)."""
    if not lake.exists(tables.INGESTED_FILES):
        return raw
    seen = lake.read(tables.INGESTED_FILES).where(F.col("entity") == entity).select(*FILE_KEYS)
    return raw.join(F.broadcast(seen), on=list(FILE_KEYS), how="left_anti")


def landed_files(batch: DataFrame) -> DataFrame:
    """One row per file in the batch with its row count; small (bounded by the number of files)."""
    return batch.groupBy(*FILE_KEYS).agg(F.count(F.lit(1)).alias("rows"))


def drop_leftovers(lake: Lake, entity: str, files: Sequence[tuple[str, int, object]]) -> None:
    """Delete rows an earlier, unfinished run wrote for these files, and that run's report rows."""
    if not files:
        return
    paths = sorted({f[0] for f in files})
    identity = F.concat_ws("|", *[F.col(k).cast("string") for k in FILE_KEYS])
    wanted = [
        F.concat_ws("|", *[F.lit(v).cast(t) for v, t in zip(f, ("string", "long", "timestamp"), strict=True)])
        for f in files
    ]
    # The IN on the path lets Delta skip every data file by its statistics when there is nothing to delete.
    of_these_files = F.col("_source_file").isin(paths) & identity.isin(*wanted)
    bronze = tables.BRONZE[entity]
    quarantined = of_these_files & (F.col("entity") == entity)
    for table, condition in ((bronze, of_these_files), (tables.QUARANTINE, quarantined)):
        if lake.exists(table) and "_file_mtime" in lake.read(table).columns:
            if lake.read(table).where(condition).limit(1).count():  # nothing to do after a clean run
                log.warning("%s: removing rows an interrupted run left in %s", entity, table)
                lake.delete(table, condition)


def drop_unfinished_reports(lake: Lake) -> None:
    """Report rows of runs killed after their report, before recording their files (before any `--reingest`)."""
    if not lake.exists(tables.INGEST_RUNS):
        return
    # A stream batch's report is final when written: its progress lives in the stream's checkpoint, not in files.
    runs = (
        lake.read(tables.INGEST_RUNS).where(~F.col("ingest_id").startswith(STREAM_PREFIX)).select("entity", "ingest_id")
    )
    if lake.exists(tables.INGESTED_FILES):
        finished = lake.read(tables.INGESTED_FILES).select("entity", "ingest_id").distinct()
        runs = runs.join(finished, on=["entity", "ingest_id"], how="left_anti")
    unfinished = [(r[0], r[1]) for r in runs.distinct().collect()]  # bounded: runs killed mid-way, usually none
    for entity, ingest_id in unfinished:
        log.warning("%s: removing the report of interrupted run %s", entity, ingest_id)
        lake.delete(tables.INGEST_RUNS, (F.col("entity") == entity) & (F.col("ingest_id") == ingest_id))


def record_files(lake: Lake, files: DataFrame, entity: str, ingest_id: str) -> None:
    """The commit point: these files count as ingested from now on."""
    rows = files.select(F.lit(entity).alias("entity"), *FILE_KEYS, "rows", F.lit(ingest_id).alias("ingest_id"))
    lake.write(rows, tables.INGESTED_FILES, mode="append")


def forget_files(lake: Lake, targets: Sequence[str]) -> None:
    """Drop recorded files (`all`, or files at or under a path) so this run reads them again."""
    if not lake.exists(tables.INGESTED_FILES):
        return
    # Spark records local files as file:/abs/path (or file:///abs/path): compare plain paths.
    recorded = F.regexp_replace(F.col("_source_file"), "^file:(//)?", "")
    condition = F.lit("all" in targets)
    for target in (t for t in targets if t != "all"):
        path = target if "://" in target else str(Path(target.removeprefix("file:")).resolve())
        condition = condition | (recorded == path) | recorded.startswith(path.rstrip("/") + "/")
    n = lake.read(tables.INGESTED_FILES).where(condition).count()  # one number
    lake.delete(tables.INGESTED_FILES, condition)
    log.info("reingest: forgot %d recorded file(s) under %s", n, ", ".join(targets))
