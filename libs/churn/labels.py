"""Churn labels: strictly after the cutoff, for customers active strictly before it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs.classify.model import LABEL
from pmkt.libs.config import ChurnConfig, Config, PropensityConfig
from pmkt.libs.errors import MissingInput


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def churn_labels(lines: DataFrame, cutoff: dt.date, horizon_days: int, activity_days: int) -> DataFrame:
    """`customer_id`, `snapshot_date`, `label`: 1 if a customer who bought in the activity window
    before the cutoff makes no purchase in the `horizon_days` from the cutoff on."""
    start, end = _at(cutoff - dt.timedelta(days=activity_days)), _at(cutoff + dt.timedelta(days=horizon_days))
    active = (
        lines.where((F.col("order_ts") >= F.lit(start)) & (F.col("order_ts") < F.lit(_at(cutoff))))
        .select("customer_id")
        .distinct()
    )
    bought_after = (
        lines.where((F.col("order_ts") >= F.lit(_at(cutoff))) & (F.col("order_ts") < F.lit(end)))
        .select("customer_id")
        .distinct()
        .withColumn("_bought", F.lit(1))
    )
    return active.join(bought_after, on="customer_id", how="left").select(
        "customer_id",
        F.lit(cutoff).alias("snapshot_date"),
        F.when(F.col("_bought").isNull(), 1.0).otherwise(0.0).alias(LABEL),
    )


def labelled_cutoffs(
    last_day: dt.date, horizon_days: int, train_cutoffs: int, step_days: int
) -> tuple[list[dt.date], dt.date]:
    """Training cutoffs and the later test cutoff; every label window ends before `last_day` and
    every training label window ends before the test cutoff (strictly out of time)."""
    test = last_day - dt.timedelta(days=horizon_days)
    train = [test - dt.timedelta(days=horizon_days + i * step_days) for i in range(train_cutoffs)]
    return sorted(train), test


def rolling_cutoffs(last_day: dt.date, cfg: ChurnConfig | PropensityConfig) -> tuple[list[dt.date], dt.date]:
    """A labelled model's training cutoffs and test cutoff from its config (see `labelled_cutoffs`)."""
    return labelled_cutoffs(last_day, cfg.horizon_days, cfg.train_cutoffs, cfg.step_days)


def planned_cutoffs(
    config: Config, last_day: dt.date, campaign_starts: Sequence[dt.date], has_products: bool
) -> list[dt.date]:
    """Every snapshot date the pipeline's training steps will read, so the features step builds them in
    one pass: churn's and propensity's rolling cutoffs and the campaigns' start dates for response.
    Steps not in `pipeline.steps`, or scoring only, need none."""
    runs = config.pipeline.runs
    days: set[dt.date] = set()
    if runs("churn") and config.churn.mode == "train" and config.churn.label_column is None:
        train, test = rolling_cutoffs(last_day, config.churn)
        days |= {*train, test}
    if runs("propensity") and config.propensity.mode == "train" and has_products:
        train, test = rolling_cutoffs(last_day, config.propensity)
        days |= {*train, test}
    if runs("response") and len(campaign_starts) >= 2:
        days |= set(campaign_starts)
    return sorted(days)


def check_observable(last_day: dt.date, cutoff: dt.date, horizon_days: int) -> None:
    if cutoff + dt.timedelta(days=horizon_days) > last_day:
        raise MissingInput(
            f"cutoff {cutoff} + {horizon_days} days runs past the data (last day {last_day}): labels unknown"
        )
