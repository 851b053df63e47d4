"""Automation triggers: events and score changes that become actions, one per (rule, customer, period)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs.config import TriggerRule

ACTION = ("rule", "customer_id", "period", "action", "channel", "detail")
# The input each kind of rule reads (config.TRIGGER_KINDS).
SOURCES = {
    "cart_abandoned": "events",
    "churn_risk_high": "churn_scores",
    "birthday": "customers",
    "first_purchase": "order_lines",
}


def cart_abandoned(events: DataFrame, rule: TriggerRule, as_of: dt.datetime) -> DataFrame:
    """A cart in the last `days` with no purchase by the customer within `hours` after it (and the
    `hours` have passed). The period is the cart's day, so one action per customer and day."""
    since = as_of - dt.timedelta(days=rule.days)
    carts = events.where(
        (F.col("event_type") == "add_to_cart")
        & (F.col("event_ts") >= F.lit(since))
        & (F.col("event_ts") <= F.lit(as_of - dt.timedelta(hours=rule.hours)))
    )
    purchases = events.where(F.col("event_type") == "purchase").select(
        "customer_id", F.col("event_ts").alias("bought_ts")
    )
    followed = (
        carts.alias("c")
        .join(purchases.alias("p"), on="customer_id", how="inner")
        .where(
            (F.col("bought_ts") >= F.col("c.event_ts"))
            & (F.col("bought_ts") <= F.col("c.event_ts") + F.make_interval(hours=F.lit(rule.hours)))
        )
    )
    abandoned = carts.join(
        followed.select("customer_id", "c.event_ts").distinct(), on=["customer_id", "event_ts"], how="left_anti"
    )
    per_day = abandoned.groupBy("customer_id", F.to_date("event_ts").alias("day")).agg(
        F.max_by("product_id", "event_ts").alias("product_id")
    )
    return _actions(
        per_day,
        rule,
        F.date_format("day", "yyyy-MM-dd"),
        F.concat(F.lit("left "), F.col("product_id"), F.lit(" in the cart")),
    )


def churn_risk_high(scores: DataFrame, rule: TriggerRule) -> DataFrame:
    """Risk band 'high' in the latest churn snapshot and not in the one before (or no earlier score)."""
    dates = [
        r[0] for r in scores.select("snapshot_date").distinct().orderBy(F.desc("snapshot_date")).limit(2).collect()
    ]  # two dates
    if not dates:
        return _empty(scores)
    now = scores.where(F.col("snapshot_date") == F.lit(dates[0])).where(F.col("risk_band") == "high")
    if len(dates) > 1:
        before = scores.where((F.col("snapshot_date") == F.lit(dates[1])) & (F.col("risk_band") == "high")).select(
            "customer_id"
        )
        now = now.join(before, on="customer_id", how="left_anti")
    return _actions(
        now,
        rule,
        F.date_format("snapshot_date", "yyyy-MM-dd"),
        F.concat(F.lit("churn risk rose to high ("), F.format_number("probability", 2), F.lit(")")),
    )


def birthday(customers: DataFrame, rule: TriggerRule, today: dt.date) -> DataFrame:
    """Birthdays in the next `days` (29 February counts as 28 February in other years); period: the year."""

    def next_birthday(year: int) -> F.Column:
        return F.make_date(
            F.lit(year),
            F.month("birth_date"),
            F.when((F.month("birth_date") == 2) & (F.dayofmonth("birth_date") == 29), 28).otherwise(
                F.dayofmonth("birth_date")
            ),
        )

    upcoming = F.when(next_birthday(today.year) >= F.lit(today), next_birthday(today.year)).otherwise(
        next_birthday(today.year + 1)
    )
    found = (
        customers.where(F.col("birth_date").isNotNull())
        .withColumn("birthday", upcoming)
        .where(F.datediff("birthday", F.lit(today)) <= rule.days)
    )
    return _actions(
        found,
        rule,
        F.year("birthday").cast("string"),
        F.concat(F.lit("birthday on "), F.date_format("birthday", "d MMMM")),
    )


def first_purchase(lines: DataFrame, rule: TriggerRule, as_of: dt.datetime) -> DataFrame:
    """Customers whose first order falls in the last `days`: onboarding. Period: 'first'."""
    first = lines.groupBy("customer_id").agg(F.min("order_ts").alias("first_ts"))
    recent = first.where(
        (F.col("first_ts") >= F.lit(as_of - dt.timedelta(days=rule.days))) & (F.col("first_ts") < F.lit(as_of))
    )
    return _actions(
        recent, rule, F.lit("first"), F.concat(F.lit("first order on "), F.date_format("first_ts", "yyyy-MM-dd"))
    )


def detect(rule: TriggerRule, inputs: Mapping[str, DataFrame | None], day: dt.date) -> DataFrame | None:
    """The rule's actions as of `day` from the table it needs (`inputs`: events, churn_scores, customers and
    order_lines, each None when it does not exist); None when the rule's table does not exist."""
    as_of = dt.datetime.combine(day, dt.time())
    source = inputs.get(SOURCES[rule.kind])
    if source is None:
        return None
    if rule.kind == "cart_abandoned":
        return cart_abandoned(source, rule, as_of)
    if rule.kind == "churn_risk_high":
        return churn_risk_high(source.where(F.col("snapshot_date") <= F.lit(day)), rule)
    if rule.kind == "birthday":
        return birthday(source, rule, day)
    return first_purchase(source, rule, as_of)


def _actions(df: DataFrame, rule: TriggerRule, period: F.Column, detail: F.Column) -> DataFrame:
    return df.select(
        F.lit(rule.name).alias("rule"),
        "customer_id",
        period.alias("period"),
        F.lit(rule.action).alias("action"),
        F.lit(rule.channel).alias("channel"),
        detail.alias("detail"),
    ).dropDuplicates(["rule", "customer_id", "period"])


def _empty(df: DataFrame) -> DataFrame:
    return df.sparkSession.createDataFrame([], ", ".join(f"{c} string" for c in ACTION))
