"""Automation triggers: events and score changes that become actions, one per (rule, customer, period)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.config import TriggerRule
from pmkt.libs.lake import Lake

ACTION = ("rule", "customer_id", "period", "action", "channel", "detail")
# The input each kind of rule reads (config.TRIGGER_KINDS).
SOURCES = {
    "cart_abandoned": "events",
    "churn_risk_high": "churn_scores",
    "birthday": "customers",
    "first_purchase": "order_lines",
    "high_value_return": "events",  # and the latest customer profiles
}


def cart_abandoned(
    events: DataFrame, rule: TriggerRule, as_of: dt.datetime, cart_filter: Column | None = None
) -> DataFrame:
    """A cart in the last `days` with no purchase by the customer within `hours` after it (and the
    `hours` have passed by `as_of`). The period is the cart's day, so one action per customer and day.
    `cart_filter` narrows the carts considered (the stream: the carts it ingested)."""
    cart_filter = F.lit(True) if cart_filter is None else cart_filter
    since = as_of - dt.timedelta(days=rule.days)
    carts = events.where(
        (F.col("event_type") == "add_to_cart")
        & (F.col("event_ts") >= F.lit(since))
        & (F.col("event_ts") <= F.lit(as_of - dt.timedelta(hours=rule.hours)))
        & cart_filter
    )
    purchases = events.where(F.col("event_type") == "purchase").select(
        "customer_id", F.col("event_ts").alias("bought_ts")
    )
    followed = (
        carts.alias("c")
        .join(purchases.alias("p"), on="customer_id", how="inner")
        .where(
            (F.col("bought_ts") >= F.col("c.event_ts"))
            & (F.col("bought_ts") <= F.col("c.event_ts") + F.make_dt_interval(secs=F.lit(rule.hours * 3600)))
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


def first_purchase_among(lines: DataFrame | None, events: DataFrame, rule: TriggerRule, new: Column) -> DataFrame:
    """Customers whose first purchase ever (order lines and purchase events alike; on a tie, the order line) is
    an event row matching `new` (the stream: this micro-batch's rows). Period: 'first', as `first_purchase`."""
    purchases = events.where(F.col("event_type") == "purchase").select(
        "customer_id", F.col("event_ts").alias("ts"), new.alias("new")
    )
    if lines is not None:
        ordered = lines.join(purchases.select("customer_id").distinct(), on="customer_id", how="left_semi")
        purchases = purchases.unionByName(
            ordered.select("customer_id", F.col("order_ts").alias("ts"), F.lit(False).alias("new"))
        )
    first = purchases.groupBy("customer_id").agg(
        F.min_by("new", F.struct(F.col("ts"), ~F.col("new"))).alias("new"), F.min("ts").alias("first_ts")
    )
    return _actions(
        first.where(F.col("new")),
        rule,
        F.lit("first"),
        F.concat(F.lit("first order on "), F.date_format("first_ts", "yyyy-MM-dd")),
    )


def high_value_return(events: DataFrame, profiles: DataFrame, rule: TriggerRule, new: Column) -> DataFrame:
    """Customers with `m_score` >= `min_score` whose event matching `new` ends a silence of more than `days`
    (a first event ever is not a return). Period: the day of the return."""
    before = Window.partitionBy("customer_id").orderBy("event_ts", "event_id")
    gap_days = (F.unix_timestamp("event_ts") - F.unix_timestamp(F.lag("event_ts").over(before))) / 86400.0
    returns = (
        events.select("customer_id", "event_ts", "event_id", new.alias("new"), gap_days.alias("gap_days"))
        .where(F.col("new") & (F.col("gap_days") > rule.days))
        .join(
            profiles.where(F.col("m_score") >= rule.min_score).select("customer_id"), on="customer_id", how="left_semi"
        )
        .groupBy("customer_id", F.to_date("event_ts").alias("day"))
        .agg(F.max("gap_days").alias("gap_days"))
    )
    return _actions(
        returns,
        rule,
        F.date_format("day", "yyyy-MM-dd"),
        F.concat(F.lit("back after "), F.floor("gap_days").cast("string"), F.lit(" days")),
    )


def detect(rule: TriggerRule, inputs: Mapping[str, DataFrame | None], day: dt.date) -> DataFrame | None:
    """The rule's actions as of `day` from the table it needs (`inputs`: events, churn_scores, customers,
    order_lines and customer_profiles, each None when it does not exist); None when a needed table does not exist."""
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
    if rule.kind == "high_value_return":
        profiles = inputs.get("customer_profiles")
        if profiles is None:
            return None
        recent = F.col("event_ts") >= F.lit(as_of - dt.timedelta(hours=rule.hours))
        return high_value_return(source.where(F.col("event_ts") < F.lit(as_of)), profiles, rule, recent)
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


def record(lake: Lake, found: DataFrame, eligible: DataFrame) -> int:
    """Add the actions of `eligible` customers (consent, not suppressed) to gold.actions, once per (rule, customer,
    period) whoever fired them first: the batch campaign or the stream. Returns how many were new."""
    allowed = found.join(eligible.select("customer_id"), on="customer_id", how="left_semi")
    merged = lake.merge(
        allowed.withColumn("triggered_at", F.current_timestamp()),
        tables.ACTIONS,
        keys=["rule", "customer_id", "period"],
        update=False,
    )
    return merged["inserted"]
