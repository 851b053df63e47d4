"""`stream`: new events, micro-batch by micro-batch, to silver, live counters, triggers and fresh recommendations.

`pmkt stream --once` takes what has landed and stops (for cron and tests); without it the stream runs until
stopped, a micro-batch every `--trigger-seconds`. Each micro-batch holds the lake's writer lock while it
writes, so batch jobs run between micro-batches.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import pii, tables
from pmkt.libs.campaign import audience, triggers
from pmkt.libs.config import Config, SourceConfig
from pmkt.libs.lake import Lake
from pmkt.libs.lock import lake_lock
from pmkt.libs.log import get_logger, timed
from pmkt.libs.recommend import live
from pmkt.libs.runner import run_job
from pmkt.libs.session import is_local
from pmkt.libs.streaming import micro_batch, realtime, source

log = get_logger(__name__)
OWN_LOCK = True  # takes the writer lock per micro-batch, not for the whole run


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.stream
    lake = Lake(spark, config.lake)
    lake.check_writable()
    src = source.events_source(config)
    location = source.checkpoint(config)
    app = source.app_id(location)
    key = pii.resolve_key(config.pii, is_local(spark))
    folding = live.load(config)
    failures: list[BaseException] = []

    def each(batch: DataFrame, batch_id: int) -> None:
        try:
            with lake_lock(lake, "stream", config.lake.lock_wait_seconds):
                process(lake, config, src, batch, batch_id, app, key, folding)
        except BaseException as exc:
            failures.append(exc)  # Spark wraps it; the job reports the original, in one line
            raise

    writer = source.read(spark, cfg, src).writeStream.foreachBatch(each).option("checkpointLocation", location)
    if cfg.once:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{cfg.trigger_seconds} seconds")
    query = writer.queryName("pmkt-stream").start()
    log.info("stream from %s (%s), checkpoint %s", cfg.landing, cfg.format, location)
    try:
        query.awaitTermination()
    except StreamingQueryException:
        if failures:
            raise failures[-1] from None
        raise
    except KeyboardInterrupt:
        log.info("stopping the stream after the current micro-batch")
        query.stop()


def process(
    lake: Lake,
    config: Config,
    src: SourceConfig,
    batch: DataFrame,
    batch_id: int,
    app: str,
    key: bytes,
    folding: live.Folding | None,
) -> None:
    """One micro-batch: ingest, then counters, triggers and fold-in for the customers it can change."""
    with timed(log, f"micro-batch {batch_id}") as stats:
        min_rows = config.stream.share_check_min_rows
        landed = micro_batch.ingest(lake, batch, app, batch_id, src, config.ingest, key, min_rows)
        if landed is None:
            return
        report, rows = landed
        stats["rows"] = report.input
        log.info("%s", report.summary())
        previous = lake.read_if_exists(tables.REALTIME_FEATURES)
        before, as_of = realtime.clock(previous, rows)
        if as_of is None:
            return
        hours = realtime.lookback_hours(config.campaign.triggers, config.stream.watermark_minutes)
        customers = realtime.affected(rows, previous, before, hours).localCheckpoint()
        events = realtime.history(lake, customers).cache()
        try:
            lake.merge(realtime.features(events, as_of), tables.REALTIME_FEATURES, keys=["customer_id"], update=True)
            _actions(lake, config, events, report.ingest_id, as_of)
            if folding is not None:
                interacting = rows.where(F.col("product_id").isNotNull()).select("customer_id").distinct()
                fresh = live.refresh(lake, config, folding, interacting, as_of)
                merged = lake.merge(fresh, tables.RECOMMENDATIONS_LIVE, keys=["customer_id"], update=True)
                log.info("fresh recommendations: %s customers", f"{merged['inserted'] + merged['updated']:,}")
        finally:
            events.unpersist()


def _actions(lake: Lake, config: Config, events: DataFrame, run_id: str, as_of: dt.datetime) -> None:
    watermark = as_of - dt.timedelta(minutes=config.stream.watermark_minutes)
    found = realtime.actions(
        config.campaign.triggers,
        events,
        lake.read_if_exists(tables.SILVER["transactions"]),
        lake.latest_rows(tables.CUSTOMER_PROFILES),
        run_id,
        watermark,
    )
    if found is None:
        return
    customers = lake.read_if_exists(tables.SILVER["customers"])
    if customers is None:
        log.warning("no actions: silver customers (their consent) does not exist yet")
        return
    ok = audience.eligible(customers, audience.suppressed(lake.spark, config.campaign))
    log.info("actions: %s new", f"{triggers.record(lake, found, ok):,}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("stream", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
