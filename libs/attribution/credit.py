"""Rule-based credit: first touch, last touch, linear and time decay, per channel, over converting paths."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

RULES = ("first_touch", "last_touch", "linear", "time_decay")
CREDIT = "model string, channel string, conversions double, revenue double"


def _weights(rule: str, half_life_days: float) -> Column:
    """Each touch's unnormalised weight in its path, from its position `pos`, the path's length `n` and its age
    at conversion in days, `age`."""
    if rule == "first_touch":
        return (F.col("pos") == 0).cast("double")
    if rule == "last_touch":
        return (F.col("pos") == F.col("n") - 1).cast("double")
    if rule == "linear":
        return F.lit(1.0)
    return F.pow(F.lit(2.0), -F.col("age") / F.lit(half_life_days))  # time decay: half the weight per half-life


def rule_credit(paths: DataFrame, half_life_days: float) -> DataFrame:
    """(model, channel, conversions, revenue): each converting path's conversion and revenue split over its
    touches by each rule; every path hands out exactly one conversion."""
    touches = paths.where(F.col("converted")).select(
        "customer_id",
        "conversion_ts",  # with the customer, the path's key: an order closes one path
        "revenue",
        F.size("channels").alias("n"),
        F.posexplode(F.arrays_zip("channels", "times")).alias("pos", "touch"),
    )
    age = (F.unix_timestamp("conversion_ts") - F.unix_timestamp(F.col("touch.times"))) / 86400.0
    weights = F.array(*[F.struct(F.lit(r).alias("model"), _weights(r, half_life_days).alias("w")) for r in RULES])
    weighted = touches.select(
        "customer_id",
        "conversion_ts",
        "revenue",
        F.col("touch.channels").alias("channel"),
        "pos",
        "n",
        age.alias("age"),
    ).select("customer_id", "conversion_ts", "revenue", "channel", F.inline(weights))
    path = Window.partitionBy("customer_id", "conversion_ts", "model").rowsBetween(
        Window.unboundedPreceding, Window.unboundedFollowing
    )
    share = F.col("w") / F.sum("w").over(path)  # the weights are normalised within each path and rule
    return (
        weighted.select("model", "channel", "revenue", share.alias("share"))
        .groupBy("model", "channel")
        .agg(F.sum("share").alias("conversions"), F.sum(F.col("revenue") * F.col("share")).alias("revenue"))
    )
