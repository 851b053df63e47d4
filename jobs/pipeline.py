"""`pipeline`: run the configured steps in one Spark session, then print every table."""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Sequence

from pyspark.sql import SparkSession

from libs.cli import JOBS
from libs.config import Config
from libs.errors import ConfigError
from libs.log import get_logger

log = get_logger(__name__)
# Every registered job except those that aren't pipeline steps, in registration order.
STEPS = {name: module for name, (module, _) in JOBS.items() if name not in ("pipeline", "tables", "forget")}


def run(spark: SparkSession, config: Config) -> None:
    unknown = [s for s in config.pipeline.steps if s not in STEPS]
    if unknown:
        raise ConfigError(f"config key 'pipeline.steps' names unknown step '{unknown[0]}' (steps: {', '.join(STEPS)})")
    steps = [s for s in (config.pipeline.steps or STEPS) if config.pipeline.runs(s)]
    start = time.perf_counter()
    for step in steps:
        importlib.import_module(STEPS[step]).run(spark, config)
    from jobs import tables

    log.info("pipeline %s finished in %.1fs", " -> ".join(steps), time.perf_counter() - start)
    tables.run(spark, config)
    from libs.lake import Lake
    from libs.metrics import render, render_side_by_side, summary_table

    rows = summary_table(Lake(spark, config.lake))
    if rows:
        print("\nmodel metrics (latest run of each model)\n" + render(rows))
    recommenders = render_side_by_side(
        rows,
        "recommend",
        order=(
            "popular",
            "als",
            "itemcf",
            "content",
            "basket",
            "hybrid",
            "ndcg",
            "precision",
            "recall",
            "map",
            "coverage",
        ),
    )
    if recommenders:
        about = {k: x for m, v, k, x, s in rows if m == "recommend" and v == "all" and s == "test"}
        split = next((k.split(":", 1)[1] for k in about if k.startswith("split:")), "?")
        flag = (
            "; UNDERPOWERED: too few test customers or items to tell methods apart" if about.get("underpowered") else ""
        )
        print(
            f"\nrecommenders side by side ({split} split, {about.get('test_customers', 0):,.0f} test customers, "
            f"{about.get('test_pairs', 0):,.0f} relevant items, top {config.recommend.top_k}{flag})\n" + recommenders
        )
    if "report" in steps:
        from jobs.report import report_path

        print(f"\nreport: {os.path.abspath(report_path(config))}")


def main(argv: Sequence[str] | None = None) -> int:
    from libs.cli import run_job

    return run_job("pipeline", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
