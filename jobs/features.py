"""`features`: gold.customer_features, one row per customer per snapshot, computed as of each cutoff."""
from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from libs.c360 import inputs as c360_inputs
from libs.config import Config
from libs.lake import Lake
from libs.log import get_logger, timed

log = get_logger(__name__)


def run(spark: SparkSession, config: Config) -> list[dt.date]:
    """Write (or replace) one snapshot per configured cutoff; returns the cutoffs written."""
    lake = Lake(spark, config.lake)
    inputs = c360_inputs.load(lake)
    cutoffs = [dt.date.fromisoformat(c) for c in config.features.cutoffs] or [c360_inputs.default_cutoff(inputs)]
    with timed(log, f"features as of {', '.join(map(str, cutoffs))}") as stats:
        stats["rows"] = c360_inputs.materialise_snapshots(lake, inputs, cutoffs, config.features).count()
    return cutoffs


def main(argv: Sequence[str] | None = None) -> int:
    from libs.cli import run_job

    return run_job("features", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
