"""`features`: gold.customer_features, one row per customer per snapshot, computed as of each cutoff."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs.c360 import inputs as c360_inputs
from pmkt.libs.churn import labels
from pmkt.libs.config import Config
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.runner import run_job

log = get_logger(__name__)


def run(spark: SparkSession, config: Config) -> list[dt.date]:
    """Write (or replace) one snapshot per configured cutoff, and in the same pass the earlier ones the
    pipeline's models train and test on; returns the configured cutoffs."""
    lake = Lake(spark, config.lake)
    inputs = c360_inputs.load(lake)
    last_day = c360_inputs.default_cutoff(inputs)
    cutoffs = [dt.date.fromisoformat(c) for c in config.features.cutoffs] or [last_day]
    planned = labels.planned_cutoffs(config, last_day, c360_inputs.campaign_starts(lake), inputs.products is not None)
    extra = sorted(set(planned) - set(cutoffs))
    title = f"features as of {', '.join(map(str, cutoffs))}" + (f" and {len(extra)} model cutoffs" if extra else "")
    with timed(log, title) as stats:
        stored = c360_inputs.materialise_snapshots(lake, inputs, [*cutoffs, *extra], config.features)
        stats["rows"] = stored.where(F.col("snapshot_date").isin(*cutoffs)).count()
    return cutoffs


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("features", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
