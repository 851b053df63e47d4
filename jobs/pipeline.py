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
from pmkt.libs.errors import ConfigError, MissingInput
from pmkt.libs.log import get_logger
from pmkt.libs.runner import job_group, run_job, run_side_by_side

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

# With `pipeline.lanes`, these steps run two at a time: a free worker takes the next listed step whose
# prerequisites here have finished. No step reads a table another of them writes, but for these prerequisites:
# recommend reads the segments and the basket rules. Quality, which reads the churn and propensity scores, runs
# before them. They all append to the model metrics and the run ledger (Lake retries a lost commit).
SIDE_BY_SIDE: dict[str, tuple[str, ...]] = {
    "segment": (),
    "basket": (),
    "recommend": ("segment", "basket"),
    "churn": (),
    "propensity": (),
    "response": (),
    "ctr": (),
    "uplift": (),
    "clv": (),
    "attribution": (),
}


def run_steps(spark: SparkSession, config: Config, steps: Sequence[str]) -> list[str]:
    """Run `steps` in the listed order; with `pipeline.lanes`, the steps of SIDE_BY_SIDE two at a time. Returns the
    steps skipped for want of input (only with the default steps; see `run_step`).

    That applies only when those steps are listed together: with another step between them, all run as listed.
    """
    skipped: list[str] = []
    at = [i for i, s in enumerate(steps) if s in SIDE_BY_SIDE] if config.pipeline.lanes else []
    if not at or at[-1] - at[0] + 1 != len(at):
        at = []  # one step at a time, or another step listed between side-by-side ones: every step in turn
    first, last = (at[0], at[-1] + 1) if at else (len(steps), len(steps))
    for step in steps[:first]:
        run_step(spark, config, step, skipped)
    if at:
        run_side_by_side({s: partial(run_step, spark, config, s, skipped) for s in steps[first:last]}, SIDE_BY_SIDE)
    for step in steps[last:]:
        run_step(spark, config, step, skipped)
    return skipped


def run_step(spark: SparkSession, config: Config, step: str, skipped: list[str]) -> None:
    """One step, its Spark jobs in the step's job group (the Spark UI and the event log tell the steps apart).

    With the default steps (every step but generate), a step the data cannot feed (`MissingInput`: a clickstream
    has no order lines for basket, a shop without campaigns no contacts for uplift) is skipped with a warning that
    says why, and added to `skipped`; a step that `pipeline.steps` names fails instead, as when it runs alone.
    """
    with job_group(spark, step):
        try:
            STEPS[step].run(spark, config)
        except MissingInput as exc:
            if config.pipeline.steps:
                raise
            log.warning("%s skipped: %s", step, exc)
            skipped.append(step)


def run(spark: SparkSession, config: Config) -> None:
    unknown = [s for s in config.pipeline.steps if s not in STEPS]
    if unknown:
        raise ConfigError(f"config key 'pipeline.steps' names unknown step '{unknown[0]}' (steps: {', '.join(STEPS)})")
    steps = [s for s in (config.pipeline.steps or STEPS) if config.pipeline.runs(s)]
    start = time.perf_counter()
    skipped = run_steps(spark, config, steps)
    ran = [s for s in steps if s not in skipped]
    log.info("pipeline %s finished in %.1fs", " -> ".join(ran), time.perf_counter() - start)
    if skipped:
        log.warning("skipped for want of input (see above): %s", ", ".join(s for s in steps if s in skipped))
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
