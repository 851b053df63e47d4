"""`pipeline`: run the configured steps in one Spark session, then print every table."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from functools import partial
from types import ModuleType

from pyspark.sql import SparkSession

from pmkt.jobs import (
    attribution,
    basket,
    campaign,
    churn,
    clv,
    ctr,
    fairness,
    features,
    generate,
    ingest,
    profiles,
    propensity,
    quality,
    recommend,
    report,
    response,
    segment,
    tables,
    uplift,
)
from pmkt.libs.config import Config
from pmkt.libs.errors import ConfigError
from pmkt.libs.log import get_logger
from pmkt.libs.runner import run_job, run_lanes

log = get_logger(__name__)
# The pipeline's steps in the order they run; `pipeline.steps` picks from them.
STEPS: dict[str, ModuleType] = {
    m.__name__.rsplit(".", 1)[1]: m
    for m in (
        generate,
        ingest,
        features,
        profiles,
        quality,
        segment,
        basket,
        recommend,
        churn,
        propensity,
        response,
        ctr,
        uplift,
        clv,
        attribution,
        campaign,
        fairness,
        report,
    )
}

# With `pipeline.lanes`, these steps run in two lanes side by side. No step reads a table the other lane writes:
# recommend reads the segments and the basket rules (its own lane), and quality, which reads the churn and
# propensity scores, runs before both lanes. Both lanes append to the model metrics and the run ledger.
LANES: tuple[tuple[str, ...], ...] = (
    ("segment", "basket", "recommend"),
    ("churn", "propensity", "response", "ctr", "uplift", "clv", "attribution"),
)


def run_steps(spark: SparkSession, config: Config, steps: Sequence[str]) -> None:
    """Run `steps` in the pipeline's order; with `pipeline.lanes`, the steps of LANES side by side."""
    laned = {s for lane in LANES for s in lane} & set(steps) if config.pipeline.lanes else set()
    at = [i for i, s in enumerate(steps) if s in laned]
    if at and at[-1] - at[0] + 1 != len(at):
        laned = set()  # another step sits between them in the configured order: one step at a time, as listed
    done: set[str] = set()
    for step in steps:
        if step in done:
            continue
        if step not in laned:
            STEPS[step].run(spark, config)
            done.add(step)
            continue
        lanes = [[s for s in lane if s in steps] for lane in LANES]
        run_lanes([[partial(STEPS[s].run, spark, config) for s in lane] for lane in lanes if lane])
        done.update(s for lane in lanes for s in lane)


def run(spark: SparkSession, config: Config) -> None:
    unknown = [s for s in config.pipeline.steps if s not in STEPS]
    if unknown:
        raise ConfigError(f"config key 'pipeline.steps' names unknown step '{unknown[0]}' (steps: {', '.join(STEPS)})")
    steps = [s for s in (config.pipeline.steps or STEPS) if config.pipeline.runs(s)]
    start = time.perf_counter()
    run_steps(spark, config, steps)
    log.info("pipeline %s finished in %.1fs", " -> ".join(steps), time.perf_counter() - start)
    tables.run(spark, config)
    from pmkt.libs.lake import Lake
    from pmkt.libs.metrics import render, render_side_by_side, summary_table

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
        from pmkt.jobs.report import report_path

        print(f"\nreport: {os.path.abspath(report_path(config))}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("pipeline", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
