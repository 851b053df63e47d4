"""Campaign results from contact history: rates, ROI and treatment-vs-control lift with its statistics.

Counting happens in Spark; the statistics run on the aggregated cells (campaigns x segments x
channels: a bounded number of rows), where the normal distribution is at hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

ALL = "all"
Z95 = 1.959963984540054
COLUMNS = (
    "campaign_id string, campaign_name string, segment string, channel string, treated long, control long, "
    "opens long, clicks long, conversions long, control_conversions long, open_rate double, ctr double, "
    "cvr double, control_cvr double, uplift double, uplift_ci_low double, uplift_ci_high double, z double, "
    "p_value double, p_holm double, significant boolean, revenue double, cost double, incremental_revenue double, "
    "roi double, cost_per_acquisition double, revenue_per_contact double"
)


def cells(contacts: DataFrame, campaigns: DataFrame, segments: DataFrame | None) -> DataFrame:
    """Counts per campaign x segment x channel, plus each campaign's total (segment and channel 'all')."""
    rows = contacts.join(
        F.broadcast(campaigns.select("campaign_id", F.coalesce("campaign_name", "campaign_id").alias("campaign_name"))),
        on="campaign_id",
        how="left",
    )
    if segments is not None:
        rows = rows.join(
            segments.select("customer_id", F.col("segment_name").alias("segment")), on="customer_id", how="left"
        )
    else:
        rows = rows.withColumn("segment", F.lit(None).cast("string"))
    rows = rows.select(
        "campaign_id",
        "campaign_name",
        F.coalesce("segment", F.lit("unknown")).alias("segment"),
        F.coalesce("channel", F.lit("unknown")).alias("channel"),
        (F.coalesce(F.col("group"), F.lit("treatment")) == "control").alias("is_control"),
        "opened",
        "clicked",
        "converted",
        "revenue",
        "cost",
    )
    treated = ~F.col("is_control")

    def count_if(cond: F.Column) -> F.Column:
        return F.sum(F.when(cond, 1).otherwise(0)).cast("long")

    aggs = [
        count_if(treated).alias("treated"),
        count_if(F.col("is_control")).alias("control"),
        count_if(treated & F.coalesce("opened", F.lit(False))).alias("opens"),
        count_if(treated & F.coalesce("clicked", F.lit(False))).alias("clicks"),
        count_if(treated & F.coalesce("converted", F.lit(False))).alias("conversions"),
        count_if(F.col("is_control") & F.coalesce("converted", F.lit(False))).alias("control_conversions"),
        F.sum(F.when(treated, F.coalesce("revenue", F.lit(0.0))).otherwise(0.0)).alias("revenue"),
        F.sum(F.when(F.col("is_control"), F.coalesce("revenue", F.lit(0.0))).otherwise(0.0)).alias("control_revenue"),
        F.sum(F.when(treated, F.coalesce("cost", F.lit(0.0))).otherwise(0.0)).alias("cost"),
    ]
    detail = rows.groupBy("campaign_id", "campaign_name", "segment", "channel").agg(*aggs)
    total = (
        rows.groupBy("campaign_id", "campaign_name")
        .agg(*aggs)
        .select(
            "campaign_id",
            "campaign_name",
            F.lit(ALL).alias("segment"),
            F.lit(ALL).alias("channel"),
            *[a for a in detail.columns[4:]],
        )
    )
    return detail.unionByName(total)


def lift(
    treated: int, conversions: int, control: int, control_conversions: int
) -> tuple[float, float, float, float, float]:
    """(uplift, CI low, CI high, z, two-sided p) of treated vs control conversion rates.

    The interval is the unpooled Wald 95% interval; the z-test pools the two proportions.
    """
    if treated == 0 or control == 0:
        return (math.nan,) * 5
    p1, p2 = conversions / treated, control_conversions / control
    diff = p1 - p2
    se = math.sqrt(p1 * (1 - p1) / treated + p2 * (1 - p2) / control)
    pooled = (conversions + control_conversions) / (treated + control)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / treated + 1 / control))
    z = diff / se0 if se0 > 0 else 0.0
    return diff, diff - Z95 * se, diff + Z95 * se, z, math.erfc(abs(z) / math.sqrt(2))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given; NaN stays NaN)."""
    finite = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    out = [math.nan] * len(p_values)
    running, m = 0.0, len(finite)
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def metrics(spark: SparkSession, counted: DataFrame, alpha: float) -> DataFrame:
    """gold.campaign_metrics from the cells; p-values are Holm-adjusted per campaign over its segment cells."""
    rows = [r.asDict() for r in counted.collect()]  # bounded: campaigns x segments x channels
    for r in rows:
        r["uplift"], r["uplift_ci_low"], r["uplift_ci_high"], r["z"], r["p_value"] = lift(
            r["treated"], r["conversions"], r["control"], r["control_conversions"]
        )
    for campaign in {r["campaign_id"] for r in rows}:
        family = [r for r in rows if r["campaign_id"] == campaign and r["segment"] != ALL]
        for r, p in zip(family, holm([r["p_value"] for r in family]), strict=True):
            r["p_holm"] = p
        for r in rows:
            if r["campaign_id"] == campaign and r["segment"] == ALL:
                r["p_holm"] = r["p_value"]
    out = []
    for r in rows:
        treated, control = r["treated"], r["control"]
        control_rpc = r["control_revenue"] / control if control else math.nan
        incremental = r["revenue"] - control_rpc * treated if control else math.nan
        out.append(
            (
                r["campaign_id"],
                r["campaign_name"],
                r["segment"],
                r["channel"],
                treated,
                control,
                r["opens"],
                r["clicks"],
                r["conversions"],
                r["control_conversions"],
                _ratio(r["opens"], treated),
                _ratio(r["clicks"], treated),
                _ratio(r["conversions"], treated),
                _ratio(r["control_conversions"], control),
                r["uplift"],
                r["uplift_ci_low"],
                r["uplift_ci_high"],
                r["z"],
                r["p_value"],
                r["p_holm"],
                bool(r["p_holm"] < alpha) if not math.isnan(r["p_holm"]) else False,
                float(r["revenue"]),
                float(r["cost"]),
                incremental,
                (incremental - r["cost"]) / r["cost"] if r["cost"] else math.nan,
                _ratio(r["cost"], r["conversions"]),
                _ratio(r["revenue"], treated),
            )
        )
    clean = [tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row) for row in out]
    return spark.createDataFrame(clean, COLUMNS)


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan
