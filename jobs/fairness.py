"""`fairness`: selection and error rates of every decision by protected or proxy group, in gold.fairness_audit."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import fairness, runs, tables
from pmkt.libs.config import Config
from pmkt.libs.errors import MissingInput
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger
from pmkt.libs.runner import run_job

log = get_logger(__name__)


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.fairness
    lake = Lake(spark, config.lake)
    groups, attributes = fairness.groups(lake, cfg)
    if not attributes:
        raise MissingInput(
            f"none of fairness.groups ({', '.join(cfg.groups)}) has a value in gold.customer_features "
            "or silver.customers"
        )
    with runs.job_run(lake, "fairness", (tables.FAIRNESS_AUDIT,)) as run_id:
        found = fairness.decisions(lake, cfg, groups)
        stats = fairness.group_stats(found, groups, attributes) if found else {}
        rows = [
            r
            for (decision, attribute), s in stats.items()
            for r in fairness.audit_rows(run_id, decision, attribute, s, cfg)
        ]
        if not rows:
            raise MissingInput("nothing to audit: run campaign, churn or propensity first")
        lake.write(
            spark.createDataFrame(rows, fairness.SCHEMA).withColumn("audited_at", F.current_timestamp()),
            tables.FAIRNESS_AUDIT,
            mode="append",
            merge_schema=True,
        )
    _summarise(rows)
    log.info("fairness audit: %d decision x group rows, %d flagged", len(rows), sum(1 for r in rows if r[13]))


def _summarise(rows: list[tuple]) -> None:
    """One line per decision and attribute with flagged groups: how many, and the least selected one."""
    by_pair: dict[tuple[str, str], list[tuple]] = {}
    for r in rows:  # bounded: decisions x attributes x groups
        by_pair.setdefault((r[1], r[2]), []).append(r)
    for (decision, attribute), group_rows in sorted(by_pair.items()):
        flagged = [r for r in group_rows if r[13]]
        if flagged:
            worst = min(flagged, key=lambda r: r[7] if r[7] is not None else 1.0)
            log.warning(
                "fairness: %s by %s: %d of %d groups flagged; e.g. %s: %s",
                decision,
                attribute,
                len(flagged),
                len(group_rows),
                worst[3],
                worst[14],
            )


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("fairness", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
