"""`ingest`: raw exports to bronze (what landed) to silver (typed, validated, deduplicated), with quarantine."""
from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from libs import pii, schemas, tables
from libs.config import Config, SourceConfig
from libs.errors import ReconciliationError, UserError
from libs.ingest import validate
from libs.ingest.readers import CORRUPT, read_source
from libs.lake import Lake
from libs.log import get_logger, timed
from libs.session import is_local

log = get_logger(__name__)
FILE_KEYS = ("_source_file", "_file_size", "_file_mtime")


@dataclass(frozen=True)
class EntityReport:
    """Counts for one entity in one ingest run; `input` must equal the sum of the other outcomes."""

    ingest_id: str
    entity: str
    files: int
    input: int
    inserted: int
    updated: int
    quarantined: int
    duplicates: int
    unchanged: int

    @property
    def reconciles(self) -> bool:
        return self.input == self.inserted + self.updated + self.quarantined + self.duplicates + self.unchanged


def run(spark: SparkSession, config: Config) -> list[EntityReport]:
    """Ingest every configured source, in reference order; returns one report per entity with new files."""
    if not config.ingest.sources:
        raise UserError("no sources configured: set ingest.sources in the conf")
    lake = Lake(spark, config.lake)
    lake.check_writable()
    key = pii.resolve_key(config.pii, is_local(spark))
    ingest_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    if config.ingest.reingest:
        _forget_files(lake, config.ingest.reingest)
    known: dict[str, DataFrame] = {}
    reports = []
    for name, entity in schemas.ENTITIES.items():
        src = config.ingest.sources.get(name)
        if src is not None:
            with timed(log, f"ingest {name} from {src.path}") as stats:
                report = _ingest_entity(spark, lake, config, entity, src, key, ingest_id, known)
                stats["rows"] = report.inserted + report.updated if report else 0
            if report:
                reports.append(report)
        if lake.exists(tables.SILVER[name]):
            known[name] = lake.read(tables.SILVER[name])
    _log_summary(reports)
    return reports


def _ingest_entity(spark: SparkSession, lake: Lake, config: Config, entity: schemas.Entity, src: SourceConfig,
                   key: bytes, ingest_id: str, known: dict[str, DataFrame]) -> EntityReport | None:
    raw = read_source(spark, entity.name, src)
    new = _new_files_only(lake, entity.name, raw)
    batch = validate.bronze_columns(new, entity, src, key).select(
        F.lit(ingest_id).alias("_ingest_id"), F.current_timestamp().alias("_ingested_at"), "*",
    ).persist(StorageLevel.MEMORY_AND_DISK)
    classified = validate.classify(batch, entity, src, config.ingest, known).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n_input = batch.count()
        if n_input == 0:
            if raw.limit(1).count() == 0:
                raise UserError(f"source '{entity.name}' at {src.path} has no rows")
            log.info("%s: no new files", entity.name)
            return None
        # Checked before anything is written: a conf that rejects most rows records nothing, so a fix re-ingests.
        validate.check_quarantine_share(classified, entity, n_input, config.ingest.max_quarantine_share)
        lake.write(batch, tables.BRONZE[entity.name], mode="append", merge_schema=True)
        n_quarantined = _quarantine(lake, classified, entity, ingest_id)
        valid = validate.silver_columns(classified.where(F.col(validate.REASON).isNull()), entity, src)
        n_valid = valid.count()
        rank = F.row_number().over(Window.partitionBy(*entity.keys).orderBy("_source_file", "_row_hash"))
        unique = valid.withColumn("_rank", rank).where(F.col("_rank") == 1).drop("_rank")
        n_unique = unique.count()
        merged = {"inserted": 0, "updated": 0}
        if n_unique:
            merged = lake.merge(unique, tables.SILVER[entity.name], keys=entity.keys,
                                update=entity.on_existing == "update", change_col="_row_hash")
        n_files = _record_files(lake, batch, entity.name, ingest_id)
    finally:
        classified.unpersist()
        batch.unpersist()
    report = EntityReport(ingest_id, entity.name, n_files, n_input, merged["inserted"], merged["updated"],
                          n_quarantined, n_valid - n_unique, n_unique - merged["inserted"] - merged["updated"])
    if n_input != n_quarantined + n_valid or not report.reconciles:
        raise ReconciliationError(
            f"{entity.name}: {n_input} rows landed but {n_quarantined} quarantined + {n_valid} valid = {n_quarantined + n_valid}")
    lake.write(spark.createDataFrame([asdict(report)]).withColumn("finished_at", F.current_timestamp()),
               tables.INGEST_RUNS, mode="append")
    return report


def _forget_files(lake: Lake, targets: Sequence[str]) -> None:
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


def _new_files_only(lake: Lake, entity: str, raw: DataFrame) -> DataFrame:
    """Rows from files not ingested before (same path, size and modification time)."""
    if not lake.exists(tables.INGESTED_FILES):
        return raw
    seen = lake.read(tables.INGESTED_FILES).where(F.col("entity") == entity).select(*FILE_KEYS)
    return raw.join(F.broadcast(seen), on=list(FILE_KEYS), how="left_anti")


def _quarantine(lake: Lake, classified: DataFrame, entity: schemas.Entity, ingest_id: str) -> int:
    bad = classified.where(F.col(validate.REASON).isNotNull())
    keys = [F.col(f"_v_{k}") for k in entity.keys]
    rows = bad.select(
        F.lit(entity.name).alias("entity"),
        F.col(validate.REASON).alias("reason"),
        F.col(validate.DETAIL).alias("detail"),
        F.when(~F.exists(F.array(*keys), lambda x: x.isNull()), F.concat_ws("|", *keys)).alias("key"),
        F.coalesce(F.col(CORRUPT), F.col(validate.RAW)).alias("raw"),
        "_source_file", "_ingest_id", F.current_timestamp().alias("quarantined_at"),
    )
    lake.write(rows, tables.QUARANTINE, mode="append")
    stored = lake.read(tables.QUARANTINE)
    return stored.where((F.col("_ingest_id") == ingest_id) & (F.col("entity") == entity.name)).count()


def _record_files(lake: Lake, landed: DataFrame, entity: str, ingest_id: str) -> int:
    files = landed.groupBy(*FILE_KEYS).agg(F.count(F.lit(1)).alias("rows")).select(
        F.lit(entity).alias("entity"), *FILE_KEYS, "rows", F.lit(ingest_id).alias("ingest_id"))
    files = files.cache()
    n_files = files.count()  # bounded by the number of files
    lake.write(files, tables.INGESTED_FILES, mode="append")
    files.unpersist()
    return n_files


def _log_summary(reports: Sequence[EntityReport]) -> None:
    if not reports:
        log.info("nothing new to ingest")
    for r in reports:
        log.info("%s: %s in = %s inserted + %s updated + %s quarantined + %s duplicates + %s unchanged (%d files)",
                 r.entity, f"{r.input:,}", f"{r.inserted:,}", f"{r.updated:,}", f"{r.quarantined:,}",
                 f"{r.duplicates:,}", f"{r.unchanged:,}", r.files)


def main(argv: Sequence[str] | None = None) -> int:
    from libs.cli import run_job

    return run_job("ingest", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
