"""Customer journeys: each customer's campaign touches, ordered by time, cut at their orders.

A path is the touches between two of a customer's orders (or after the last one). It converts when it ends in
an order within `attribution.window_days` of its last touch; an order later than that is organic, and the
touches before it did not convert. A path whose last touch is within the window of the data's end may still
convert, so it is counted as censored and left out of the models.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

PATH = ("customer_id", "channels", "times", "converted", "censored", "revenue", "conversion_ts")


def touches(contacts: DataFrame, start: dt.datetime, end: dt.datetime) -> DataFrame:
    """(customer_id, ts, channel, cost): treatment contacts sent in [start, end); control contacts were never sent."""
    treated = F.coalesce(F.col("group"), F.lit("treatment")) == "treatment"
    sent = (F.col("sent_ts") >= F.lit(start)) & (F.col("sent_ts") < F.lit(end))
    return contacts.where(treated & sent & F.col("customer_id").isNotNull()).select(
        "customer_id",
        F.col("sent_ts").alias("ts"),
        F.coalesce(F.col("channel"), F.lit("unknown")).alias("channel"),
        F.coalesce(F.col("cost"), F.lit(0.0)).alias("cost"),
    )


def orders(lines: DataFrame, start: dt.datetime, end: dt.datetime) -> DataFrame:
    """(customer_id, ts, revenue): one row per order placed in [start, end)."""
    placed = (F.col("order_ts") >= F.lit(start)) & (F.col("order_ts") < F.lit(end)) & F.col("customer_id").isNotNull()
    return (
        lines.where(placed)
        .groupBy("customer_id", "order_id")
        .agg(F.min("order_ts").alias("ts"), F.sum("amount").alias("revenue"))
        .drop("order_id")
    )


def paths(touched: DataFrame, ordered: DataFrame, window_days: float, end: dt.datetime) -> DataFrame:
    """One row per path with at least one touch: channels and times in order, whether it converted or is
    censored, and the converting order's revenue and time."""
    events = touched.select(
        "customer_id", "ts", "channel", F.lit(None).cast("double").alias("revenue"), F.lit(0).alias("is_order")
    ).unionByName(
        ordered.select(
            "customer_id", "ts", F.lit(None).cast("string").alias("channel"), "revenue", F.lit(1).alias("is_order")
        )
    )
    # A touch at the same instant as an order comes before it; each order closes the path it ends.
    before = Window.partitionBy("customer_id").orderBy("ts", "is_order").rowsBetween(Window.unboundedPreceding, -1)
    is_touch = F.col("is_order") == 0
    grouped = (
        events.withColumn("_path", F.coalesce(F.sum("is_order").over(before), F.lit(0)))
        .groupBy("customer_id", "_path")
        .agg(
            F.array_sort(F.collect_list(F.when(is_touch, F.struct("ts", "channel")))).alias("_touches"),
            F.max(F.when(~is_touch, F.col("ts"))).alias("_order_ts"),
            F.max(F.when(~is_touch, F.col("revenue"))).alias("_revenue"),
        )
        .where(F.size("_touches") > 0)
    )
    last_touch = F.element_at("_touches", -1)["ts"]
    window = F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), F.lit(window_days * 86400.0).cast("decimal(18,6)"))
    converted = F.col("_order_ts").isNotNull() & (F.col("_order_ts") <= last_touch + window)
    censored = F.col("_order_ts").isNull() & (last_touch + window > F.lit(end))
    return grouped.select(
        "customer_id",
        F.col("_touches.channel").alias("channels"),
        F.col("_touches.ts").alias("times"),
        converted.alias("converted"),
        censored.alias("censored"),
        F.when(converted, F.coalesce(F.col("_revenue"), F.lit(0.0))).otherwise(0.0).alias("revenue"),
        F.when(converted, F.col("_order_ts")).alias("conversion_ts"),
    )
