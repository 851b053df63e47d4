"""One micro-batch of landed events into bronze, quarantine and silver, through batch ingest's own validation.

Exactly once, however often a batch runs: a batch killed half-way is run again with the same rows after a
restart (the checkpoint holds its offsets). Bronze and quarantine appends carry Delta's transaction id (the
stream's application id and the batch id), so a second run skips them; silver is an insert-only MERGE on the
event id; the report is an insert-only MERGE on its id. Every count is measured against silver *without* this
batch's own rows, so a second run reports what the first one did.
"""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.config import IngestConfig, SourceConfig
from pmkt.libs.errors import ReconciliationError
from pmkt.libs.ingest import validate
from pmkt.libs.ingest.report import STREAM_PREFIX, EntityReport
from pmkt.libs.lake import Lake
from pmkt.libs.streaming.source import ENTITY


def ingest_id(app: str, batch_id: int) -> str:
    """`stream-<12 hex digits of the stream's id>-<batch id>`: 29 characters, within the 32 Delta keeps of a
    string in its file statistics, so a batch's rows can be found by them."""
    return f"{STREAM_PREFIX}{app.removeprefix('pmkt-stream-')[:12]}-{batch_id:09d}"


def ingest(
    lake: Lake,
    raw: DataFrame,
    app: str,
    batch_id: int,
    src: SourceConfig,
    cfg: IngestConfig,
    key: bytes,
    min_rows_checked: int,
) -> tuple[EntityReport, DataFrame] | None:
    """Validate and land one micro-batch; returns its report and its valid rows as silver has them (None when
    the batch is empty). The caller unpersists nothing: the returned rows are checkpointed on local disk."""
    run_id = ingest_id(app, batch_id)
    txn = (app, batch_id)
    known = {"products": lake.read(tables.SILVER["products"])} if lake.exists(tables.SILVER["products"]) else {}
    batch = (
        validate.bronze_columns(raw.withColumn("_line", F.monotonically_increasing_id()), ENTITY, src, key)
        .select(F.lit(run_id).alias("_ingest_id"), F.current_timestamp().alias("_ingested_at"), "*")
        .localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY)
    )
    n_input = batch.count()
    if n_input == 0:
        return None
    n_files = batch.select("_source_file").distinct().count()  # one number
    classified = validate.classify(batch, ENTITY, src, cfg, known).persist(StorageLevel.DISK_ONLY)
    try:
        # Batch ingest's gate: a conf that rejects most rows stops the stream before anything is written, and
        # after the fix the restarted stream runs this batch again. A handful of rows says nothing about the conf.
        if n_input >= min_rows_checked:
            validate.check_quarantine_share(classified, ENTITY, n_input, cfg.max_quarantine_share)
        lake.write(batch, tables.BRONZE[ENTITY.name], mode="append", merge_schema=True, txn=txn)
        lake.write(
            validate.quarantine_rows(classified, ENTITY), tables.QUARANTINE, mode="append", merge_schema=True, txn=txn
        )
        valid = classified.where(F.col(validate.REASON).isNull())
        n_valid = valid.count()
        unique = validate.silver_columns(validate.latest_per_key(valid, ENTITY), ENTITY, src).localCheckpoint(
            eager=True, storageLevel=StorageLevel.DISK_ONLY
        )
        report = _land(lake, unique, run_id, n_input, n_files, n_valid)
    finally:
        classified.unpersist()
    lake.merge(report.row(lake.spark), tables.INGEST_RUNS, keys=["ingest_id", "entity"], update=False)
    return report, unique


def _land(lake: Lake, unique: DataFrame, run_id: str, n_input: int, n_files: int, n_valid: int) -> EntityReport:
    """The silver MERGE and the batch's report, each count measured on its own table."""
    silver = tables.SILVER[ENTITY.name]
    n_unique = unique.count()
    # What silver held before this batch: a second run of the batch finds its own rows there already.
    before = lake.read(silver).where(F.col("_ingest_id") != run_id) if lake.exists(silver) else None
    unchanged = validate.unchanged_rows(unique, before, ENTITY) if before is not None else 0
    if n_unique:
        lake.merge(unique, silver, keys=ENTITY.keys, update=False)
    inserted = lake.read(silver).where(F.col("_ingest_id") == run_id).count() if lake.exists(silver) else 0
    n_quarantined = lake.read(tables.QUARANTINE).where(F.col("_ingest_id") == run_id).count()
    report = EntityReport(
        run_id, ENTITY.name, n_files, n_input, inserted, 0, n_quarantined, n_valid - n_unique, unchanged
    )
    if n_input != n_quarantined + n_valid or not report.reconciles:
        raise ReconciliationError(f"stream batch {run_id}: counts do not add up: {report.summary()}")
    return report
