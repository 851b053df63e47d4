"""Churn labels: strictly after the cutoff, for customers active strictly before it."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from libs.errors import UserError

LABEL = "label"


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def churn_labels(lines: DataFrame, cutoff: dt.date, horizon_days: int, activity_days: int) -> DataFrame:
    """`customer_id`, `snapshot_date`, `label`: 1 if a customer who bought in the activity window
    before the cutoff makes no purchase in the `horizon_days` from the cutoff on."""
    start, end = _at(cutoff - dt.timedelta(days=activity_days)), _at(cutoff + dt.timedelta(days=horizon_days))
    active = lines.where((F.col("order_ts") >= F.lit(start)) & (F.col("order_ts") < F.lit(_at(cutoff)))).select("customer_id").distinct()
    bought_after = (lines.where((F.col("order_ts") >= F.lit(_at(cutoff))) & (F.col("order_ts") < F.lit(end)))
                    .select("customer_id").distinct().withColumn("_bought", F.lit(1)))
    return active.join(bought_after, on="customer_id", how="left").select(
        "customer_id", F.lit(cutoff).alias("snapshot_date"), F.when(F.col("_bought").isNull(), 1.0).otherwise(0.0).alias(LABEL))


def labelled_cutoffs(last_day: dt.date, horizon_days: int, train_cutoffs: int, step_days: int) -> tuple[list[dt.date], dt.date]:
    """Training cutoffs and the later test cutoff; every label window ends before `last_day` and
    every training label window ends before the test cutoff (strictly out of time)."""
    test = last_day - dt.timedelta(days=horizon_days)
    train = [test - dt.timedelta(days=horizon_days + i * step_days) for i in range(train_cutoffs)]
    return sorted(train), test


def check_observable(last_day: dt.date, cutoff: dt.date, horizon_days: int) -> None:
    if cutoff + dt.timedelta(days=horizon_days) > last_day:
        raise UserError(f"cutoff {cutoff} + {horizon_days} days runs past the data (last day {last_day}): labels unknown")
