"""`profiles`: gold.customer_profiles, RFM scores, named RFM segments and conf-defined tags."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.c360 import profiles
from pmkt.libs.config import Config
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.runner import run_job

log = get_logger(__name__)


def run(spark: SparkSession, config: Config) -> None:
    lake = Lake(spark, config.lake)
    day = lake.latest_snapshot(tables.CUSTOMER_FEATURES, config.profiles.snapshot)
    features = lake.read_snapshot(tables.CUSTOMER_FEATURES, day)
    with timed(log, f"profiles for snapshot {day}") as stats:
        lake.write_snapshot(profiles.build(features, config.profiles), tables.CUSTOMER_PROFILES, day)
        written = lake.read_snapshot(tables.CUSTOMER_PROFILES, day)
        stats["rows"] = written.count()
    counts = written.groupBy("rfm_segment").count().orderBy(F.desc("count")).collect()  # at most a dozen segments
    log.info("RFM segments: %s", ", ".join(f"{r.rfm_segment} {r['count']:,}" for r in counts))


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("profiles", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
