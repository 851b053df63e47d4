"""The per-customer purchase summary CLV models read, computed in Spark as of a cutoff.

A purchase is a day with an order: several orders on one day count once, with their amounts summed, as in
the BG/NBD and Gamma-Gamma literature and `lifetimes`' `summary_data_from_transaction_data`.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

SUMMARY = ("customer_id", "frequency", "recency", "age", "monetary", "first_purchase")


def purchase_days(lines: DataFrame, cutoff: dt.date) -> DataFrame:
    """(customer_id, day, amount): one row per customer and day with an order before `cutoff`."""
    return (
        lines.where((F.col("order_ts") < F.lit(cutoff).cast("timestamp")) & F.col("customer_id").isNotNull())
        .groupBy("customer_id", F.to_date("order_ts").alias("day"))
        .agg(F.sum("amount").alias("amount"))
    )


def summary(days: DataFrame, observed_until: dt.date, period_days: float) -> DataFrame:
    """Per customer: `frequency` (x, repeat purchase days), `recency` (t_x, first to last purchase) and `age`
    (T, first purchase to `observed_until`) in periods of `period_days`, and `monetary`, the mean amount of the
    repeat purchase days (0 without any; the first purchase is left out, as the Gamma-Gamma model requires)."""
    per_customer = days.groupBy("customer_id").agg(
        F.count("day").alias("_days"),
        F.min("day").alias("first_purchase"),
        F.max("day").alias("_last"),
        F.sum("amount").alias("_total"),
        F.min_by("amount", "day").alias("_first_amount"),
    )
    frequency = F.col("_days") - 1
    return per_customer.select(
        "customer_id",
        frequency.cast("int").alias("frequency"),
        (F.datediff("_last", "first_purchase") / F.lit(period_days)).alias("recency"),
        (F.datediff(F.lit(observed_until), "first_purchase") / F.lit(period_days)).alias("age"),
        F.when(frequency > 0, (F.col("_total") - F.col("_first_amount")) / frequency)
        .otherwise(F.lit(0.0))
        .alias("monetary"),
        "first_purchase",
    )


def patterns(summaries: DataFrame) -> DataFrame:
    """(frequency, recency, age, customers): the distinct patterns the BG/NBD likelihood sums over."""
    return summaries.groupBy("frequency", "recency", "age").agg(F.count(F.lit(1)).alias("customers"))


def value_patterns(summaries: DataFrame, resolution: float = 0.0) -> DataFrame:
    """(frequency, monetary, customers) of repeat buyers with a positive mean value: the Gamma-Gamma input.

    With a `resolution` (e.g. 0.005), mean values are rounded to that relative step on a log scale, so the
    distinct pairs are bounded by the range of values, not by the number of customers.
    """
    value = F.col("monetary")
    if resolution > 0:
        value = F.exp(F.round(F.log(value) / F.lit(resolution)) * F.lit(resolution))
    return (
        summaries.where((F.col("frequency") > 0) & (F.col("monetary") > 0))
        .groupBy("frequency", value.alias("monetary"))
        .agg(F.count(F.lit(1)).alias("customers"))
    )


def coarsened(summaries: DataFrame) -> DataFrame:
    """The summaries with recency and age rounded to whole periods: fewer distinct patterns for the fit."""
    return summaries.withColumn("recency", F.round("recency")).withColumn("age", F.round("age"))


def holdout_purchases(lines: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    """(customer_id, actual): purchase days in [start, end) per customer who bought in that period."""
    return (
        lines.where(
            (F.col("order_ts") >= F.lit(start).cast("timestamp"))
            & (F.col("order_ts") < F.lit(end).cast("timestamp"))
            & F.col("customer_id").isNotNull()
        )
        .groupBy("customer_id")
        .agg(F.countDistinct(F.to_date("order_ts")).alias("actual"))
    )
