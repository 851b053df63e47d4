"""`ingest`: raw exports to bronze (what landed) to silver (typed, validated, deduplicated), with quarantine."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Sequence

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import pii, schemas, tables
from pmkt.libs.config import Config, SourceConfig
from pmkt.libs.errors import ReconciliationError, UserError
from pmkt.libs.ingest import files, validate
from pmkt.libs.ingest.readers import read_source
from pmkt.libs.ingest.report import EntityReport
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.runner import run_job
from pmkt.libs.session import is_local

log = get_logger(__name__)


def run(spark: SparkSession, config: Config) -> list[EntityReport]:
    """Ingest every configured source, in reference order; returns one report per entity with new files."""
    if not config.ingest.sources:
        raise UserError("no sources configured: set ingest.sources in the conf")
    lake = Lake(spark, config.lake)
    lake.check_writable()
    key = pii.resolve_key(config.pii, is_local(spark))
    ingest_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    files.drop_unfinished_reports(lake)
    if config.ingest.reingest:
        files.forget_files(lake, config.ingest.reingest)
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


def _ingest_entity(
    spark: SparkSession,
    lake: Lake,
    config: Config,
    entity: schemas.Entity,
    src: SourceConfig,
    key: bytes,
    ingest_id: str,
    known: dict[str, DataFrame],
) -> EntityReport | None:
    raw = read_source(spark, entity, src)
    # Read once and materialised: every count, check and write below sees the same rows, whatever it prunes.
    # On local disk, not in memory: a batch grows with the export, and a 2 GiB driver must take any size.
    batch = (
        validate.bronze_columns(files.new_files_only(lake, entity.name, raw), entity, src, key)
        .select(
            F.lit(ingest_id).alias("_ingest_id"),
            F.current_timestamp().alias("_ingested_at"),
            "*",
        )
        .localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY)
    )
    classified = validate.classify(batch, entity, src, config.ingest, known).persist(StorageLevel.DISK_ONLY)
    landed = files.landed_files(batch).cache()
    try:
        file_rows = landed.collect()  # bounded by the number of new files
        if not file_rows:
            if raw.limit(1).count() == 0:
                raise UserError(f"source '{entity.name}' at {src.path} has no rows")
            log.info("%s: no new files", entity.name)
            return None
        n_input = sum(r["rows"] for r in file_rows)
        # Checked before anything is written: a conf that rejects most rows records nothing, so a fix re-ingests.
        validate.check_quarantine_share(classified, entity, n_input, config.ingest.max_quarantine_share)
        files.drop_leftovers(lake, entity.name, [tuple(r[k] for k in files.FILE_KEYS) for r in file_rows])
        report = _write_entity(lake, classified, batch, entity, src, ingest_id, n_input, len(file_rows))
        lake.write(report.row(spark), tables.INGEST_RUNS, mode="append")
        files.record_files(lake, landed, entity.name, ingest_id)  # the commit point
    finally:
        landed.unpersist()
        classified.unpersist()
    return report


def _write_entity(
    lake: Lake,
    classified: DataFrame,
    batch: DataFrame,
    entity: schemas.Entity,
    src: SourceConfig,
    ingest_id: str,
    n_input: int,
    n_files: int,
) -> EntityReport:
    """Bronze, quarantine and silver for one batch; every count is measured on its own, so they can disagree."""
    lake.write(batch, tables.BRONZE[entity.name], mode="append", merge_schema=True)
    n_quarantined = _quarantine(lake, classified, entity, ingest_id)
    valid = classified.where(F.col(validate.REASON).isNull())
    n_valid = valid.count()
    # Materialised, so the MERGE reads exactly these rows: Delta's MERGE may re-run its source plan without
    # the caches, and a CSV read again with fewer columns can no longer tell a broken line by its field count.
    unique = validate.silver_columns(validate.latest_per_key(valid, entity), entity, src).localCheckpoint(
        eager=True, storageLevel=StorageLevel.DISK_ONLY
    )
    n_unique = unique.count()
    silver = tables.SILVER[entity.name]
    unchanged = validate.unchanged_rows(unique, lake.read(silver), entity) if lake.exists(silver) else 0
    merged = {"inserted": 0, "updated": 0}
    if n_unique:
        merged = lake.merge(
            unique, silver, keys=entity.keys, update=entity.on_existing == "update", change_col="_row_hash"
        )
    report = EntityReport(
        ingest_id,
        entity.name,
        n_files,
        n_input,
        merged["inserted"],
        merged["updated"],
        n_quarantined,
        n_valid - n_unique,
        unchanged,
    )
    if n_input != n_quarantined + n_valid or not report.reconciles:
        raise ReconciliationError(
            f"{entity.name}: counts do not add up: {n_input:,} in, {n_quarantined:,} quarantined, {n_valid:,} valid, "
            f"{merged['inserted']:,} inserted + {merged['updated']:,} updated + {unchanged:,} unchanged "
            f"for {n_unique:,} distinct keys"
        )
    return report


def _quarantine(lake: Lake, classified: DataFrame, entity: schemas.Entity, ingest_id: str) -> int:
    lake.write(validate.quarantine_rows(classified, entity), tables.QUARANTINE, mode="append", merge_schema=True)
    stored = lake.read(tables.QUARANTINE)
    return stored.where((F.col("_ingest_id") == ingest_id) & (F.col("entity") == entity.name)).count()


def _log_summary(reports: Sequence[EntityReport]) -> None:
    if not reports:
        log.info("nothing new to ingest")
    for r in reports:
        log.info("%s", r.summary())


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("ingest", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
