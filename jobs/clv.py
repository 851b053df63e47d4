"""`clv`: customer lifetime value (BG/NBD purchases, Gamma-Gamma order values), checked on a hold-out period."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import tables, tracking
from pmkt.libs.c360 import inputs as c360_inputs
from pmkt.libs.c360.snapshot import Inputs
from pmkt.libs.clv import scoring, summary
from pmkt.libs.config import ClvConfig, Config
from pmkt.libs.errors import MissingInput, UserError
from pmkt.libs.frames import one
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.metrics import Metric, append_metrics
from pmkt.libs.runner import run_job

log = get_logger(__name__)
MODEL = "clv"


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.clv
    lake = Lake(spark, config.lake)
    if not lake.exists(tables.SILVER["transactions"]):
        raise MissingInput("CLV needs silver.order_lines: ingest a transactions source first")
    lines = lake.read(tables.SILVER["transactions"])
    day = _snapshot(lake, lines, cfg)
    with tracking.model_run(lake, config, MODEL, cfg) as run_id, timed(log, f"clv snapshot {day}") as stats:
        metrics = _calibrate(lake, lines, day, cfg, run_id)
        summaries = summary.summary(summary.purchase_days(lines, day), day - dt.timedelta(days=1), cfg.period_days)
        summaries = summaries.cache()
        fitted = scoring.fit(summaries, cfg)
        log.info("fitted on %s customers (%s patterns): %s", f"{fitted.customers:,}", f"{fitted.patterns:,}", fitted)
        for line in fitted.runaway():
            log.warning("%s", line)
        if fitted.value is None:
            log.warning(
                "no repeat purchase has a positive amount: BG/NBD alone, so expected purchases and P(alive) "
                "without expected order value or CLV"
            )
        scored = scoring.score(summaries, fitted, cfg).withColumn("run_id", F.lit(run_id))
        lake.write_snapshot(scored.withColumn("snapshot_date", F.lit(day)), tables.CLV, day)
        summaries.unpersist()
        stats["rows"] = fitted.customers
        totals = one(
            lake.read_snapshot(tables.CLV, day).agg(F.sum("expected_purchases"), F.avg("clv"), F.avg("p_alive"))
        )
        split = f"snapshot {day}"
        value_params = vars(fitted.value) if fitted.value else {}  # no Gamma-Gamma without order values
        metrics += [
            *(Metric(MODEL, "bgnbd", k, v, split) for k, v in vars(fitted.purchases).items()),
            *(Metric(MODEL, "gamma_gamma", k, v, split) for k, v in value_params.items()),
            Metric(MODEL, "bgnbd", "customers", float(fitted.customers), split),
            Metric(MODEL, "bgnbd", "patterns", float(fitted.patterns), split),
            Metric(MODEL, "clv", "expected_purchases", float(totals[0]), split),
            Metric(MODEL, "clv", "mean_p_alive", float(totals[2]), split),
        ]
        if totals[1] is not None:  # no CLV without order values
            metrics.append(Metric(MODEL, "clv", "mean_clv", float(totals[1]), split))
        append_metrics(spark, lake, metrics, run_id)


def _snapshot(lake: Lake, lines: DataFrame, cfg: ClvConfig) -> dt.date:
    """`clv.snapshot`, else the latest feature snapshot (so campaigns see CLV beside the features), else the
    day after the latest order."""
    if cfg.snapshot:
        return dt.date.fromisoformat(cfg.snapshot)
    if lake.exists(tables.CUSTOMER_FEATURES):
        return lake.latest_snapshot(tables.CUSTOMER_FEATURES)
    return c360_inputs.default_cutoff(Inputs(lines=lines))


def _calibrate(lake: Lake, lines: DataFrame, day: dt.date, cfg: ClvConfig, run_id: str) -> list[Metric]:
    """Fit on the purchases before the last `clv.holdout_days`, predict that period, and compare: per frequency
    bucket in gold.clv_calibration, in total in the metrics. Skipped, with a warning, without enough history."""
    end = day - dt.timedelta(days=cfg.holdout_days)
    before = summary.summary(summary.purchase_days(lines, end), end - dt.timedelta(days=1), cfg.period_days).cache()
    try:
        fitted = scoring.fit(before, cfg)
    except UserError as e:
        log.warning("no CLV hold-out calibration: %s (before %s)", e, end)
        before.unpersist()
        return []
    actual = summary.holdout_purchases(lines, end, day)
    rows = scoring.calibration(before, fitted, actual, cfg.holdout_days, cfg, end).withColumn("run_id", F.lit(run_id))
    lake.write_snapshot(rows.drop("_order").withColumn("snapshot_date", F.lit(day)), tables.CLV_CALIBRATION, day)
    before.unpersist()
    buckets = lake.read_snapshot(tables.CLV_CALIBRATION, day).collect()  # one row per frequency bucket
    customers = sum(r.customers for r in buckets)
    predicted = sum(r.customers * r.predicted for r in buckets)
    actual_total = sum(r.customers * r.actual for r in buckets)
    bucket_error = sum(r.customers * abs(r.predicted - r.actual) for r in buckets) / customers
    log.info(
        "CLV hold-out (%d days after %s): %.0f purchase days predicted, %.0f actual, bucket error %.3f",
        cfg.holdout_days,
        end,
        predicted,
        actual_total,
        bucket_error,
    )
    split = f"fit before {end}, hold-out {cfg.holdout_days} days"
    return [
        Metric(MODEL, "holdout", "customers", float(customers), split),
        Metric(MODEL, "holdout", "predicted_purchases", predicted, split),
        Metric(MODEL, "holdout", "actual_purchases", actual_total, split),
        Metric(MODEL, "holdout", "relative_error", (predicted - actual_total) / max(actual_total, 1.0), split),
        Metric(MODEL, "holdout", "bucket_mae", bucket_error, split),
        *(Metric(MODEL, "holdout", f"bgnbd_{k}", v, split) for k, v in vars(fitted.purchases).items()),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("clv", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
