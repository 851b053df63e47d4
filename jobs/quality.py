"""`quality`: data-quality expectations (a `fail` stops the pipeline before the models) and drift (PSI)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from pmkt.libs import quality, runs, tables
from pmkt.libs.c360 import inputs as c360_inputs
from pmkt.libs.config import Config
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger
from pmkt.libs.runner import run_job
from pmkt.libs.tables import TableId

log = get_logger(__name__)
# Scores watched for drift between consecutive snapshots, next to every numeric feature.
SCORES = ((tables.CHURN_SCORES, ("probability",)), (tables.PROPENSITY_SCORES, ("probability",)))
NOT_FEATURES = ("customer_id", "snapshot_date", c360_inputs.BUILT_FROM)


def run(spark: SparkSession, config: Config) -> None:
    lake = Lake(spark, config.lake)
    with runs.job_run(lake, "quality", (tables.DATA_QUALITY, tables.DRIFT)) as run_id:
        _run(spark, lake, config, run_id)


def _run(spark: SparkSession, lake: Lake, config: Config, run_id: str) -> None:
    cfg = config.quality
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    previous = quality.previous_observed(lake)
    outcomes = []
    for e in cfg.expectations:
        outcome = quality.evaluate(lake, e, previous.get((e.table, e.rule, e.column or "")))
        if outcome is not None:
            outcomes.append(outcome)
            if not outcome.passed:
                log.warning(
                    "data quality %s: %s %s(%s) failing share %.2f%% (allowed %.2f%%)",
                    e.severity,
                    e.table,
                    e.rule,
                    e.column or "",
                    100 * outcome.share,
                    100 * outcome.allowed,
                )
    rows = [
        (
            run_id,
            now,
            o.expectation.table,
            o.expectation.rule,
            o.expectation.column,
            o.expectation.severity,
            o.rows,
            o.failing,
            o.share,
            o.allowed,
            o.observed,
            o.passed,
        )
        for o in outcomes
    ]
    if rows:
        lake.write(spark.createDataFrame(rows, quality.RESULT_SCHEMA), tables.DATA_QUALITY, mode="append")
    failed = sum(1 for o in outcomes if not o.passed)
    log.info("data quality: %d expectation(s) evaluated, %d not met", len(outcomes), failed)
    _drift(spark, lake, config, run_id)
    quality.gate(outcomes)


def _drift(spark: SparkSession, lake: Lake, config: Config, run_id: str) -> None:
    cfg = config.quality
    watched: list[tuple[TableId, tuple[str, ...]]] = list(SCORES)
    if lake.exists(tables.CUSTOMER_FEATURES):
        features = [c for c in lake.read(tables.CUSTOMER_FEATURES).columns if c not in NOT_FEATURES]
        watched.insert(0, (tables.CUSTOMER_FEATURES, tuple(features)))
    rows = []
    for table, columns in watched:
        for column, reference, current, psi in quality.drift(lake, table, columns, cfg.drift_bins):
            level = quality.level(psi, cfg.psi_warn, cfg.psi_alert)
            rows.append((run_id, str(table), column, reference, current, psi, level))
            if level != "ok":
                log.warning("drift %s: %s.%s PSI %.3f between %s and %s", level, table, column, psi, reference, current)
    if rows:
        lake.write(spark.createDataFrame(rows, quality.DRIFT_SCHEMA), tables.DRIFT, mode="append")
        moved = sum(1 for r in rows if r[-1] != "ok")
        log.info("drift: %d column(s) compared between snapshots, %d at warn or alert", len(rows), moved)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("quality", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
