"""Point-in-time customer features: everything is computed from data strictly before the cutoff.

Every function takes `cutoffs`, a small frame of `snapshot_date`s, and returns one row per customer and
cutoff: several snapshots are built in one pass over the inputs instead of one pass each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from pmkt.libs.frames import union_all

CUTOFF = "snapshot_date"
KEY = ["customer_id", CUTOFF]
AGE_BANDS = (
    (0, 18, "<18"),
    (18, 25, "18-24"),
    (25, 35, "25-34"),
    (35, 45, "35-44"),
    (45, 55, "45-54"),
    (55, 65, "55-64"),
    (65, 200, "65+"),
)
DAY = "_day"  # an event's or order's date, in the session's time zone: what every window and cutoff compares
EVENT_TYPES = ("view", "click", "purchase", "add_to_cart")
WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
TREND_EPSILON = 0.01  # events per day added to both rates, so a quiet customer's trend is 0, not undefined
_RELATIVE_PRICE = "_relative_price"
# Relative prices are summed as decimals: a decimal sum is exact, so the feature is the same whatever order the
# shuffles deliver the partial sums in (rows after a cutoff, or another file layout, change nothing).
_EXACT = "decimal(30,20)"


def cutoff_frame(spark: SparkSession, cutoffs: Sequence[dt.date]) -> DataFrame:
    """The cutoffs as a one-column frame (a handful of rows, broadcast wherever it is joined)."""
    if not cutoffs:
        raise ValueError("at least one cutoff is needed")
    return spark.createDataFrame([(d,) for d in sorted(set(cutoffs))], f"{CUTOFF} date")


def before(df: DataFrame, ts_col: str, cutoffs: DataFrame) -> DataFrame:
    """Each row once for every cutoff whose day it strictly precedes: the one place point-in-time is enforced.

    A broadcast join on the inequality, which Spark compiles with the rest of the stage (an `explode` of the
    cutoffs that pass a `filter` lambda measured slower: higher-order functions are interpreted row by row)."""
    return df.join(F.broadcast(cutoffs), F.col(ts_col) < F.col(CUTOFF).cast("timestamp"), how="inner")


def _days_ago(ts_col: str) -> Column:
    return F.datediff(F.col(CUTOFF), F.to_date(F.col(ts_col)))


def _in_window(ts_col: str, days: int, skip: int = 0) -> Column:
    ago = _days_ago(ts_col)
    return (ago > skip) & (ago <= skip + days)


def order_features(
    lines: DataFrame, products: DataFrame | None, cutoffs: DataFrame, windows: Sequence[int]
) -> DataFrame:
    """RFM, value and windowed order counts from order lines before each cutoff."""
    priced = before(lines, "order_ts", cutoffs)
    if products is not None:
        priced = priced.join(F.broadcast(products.select("product_id", "margin")), on="product_id", how="left")
    else:
        priced = priced.withColumn("margin", F.lit(None).cast("double"))
    orders = priced.groupBy(*KEY, "order_id").agg(
        F.min("order_ts").alias("order_ts"),
        F.sum("amount").alias("amount"),
        F.sum(F.col("amount") * F.col("margin")).alias("margin_value"),
        F.sum("quantity").alias("items"),
    )
    aggs = [
        F.datediff(F.col(CUTOFF), F.to_date(F.max("order_ts"))).alias("recency_days"),
        F.datediff(F.col(CUTOFF), F.to_date(F.min("order_ts"))).alias("first_order_days"),
        F.count(F.lit(1)).alias("frequency"),
        F.sum("amount").alias("monetary"),
        F.sum("margin_value").alias("margin_total"),
        F.avg("items").alias("avg_items_per_order"),
    ]
    for days in windows:
        inside = _in_window("order_ts", days)
        aggs += [
            F.sum(inside.cast("int")).alias(f"orders_{days}d"),
            F.sum(F.when(inside, F.col("amount")).otherwise(0.0)).alias(f"revenue_{days}d"),
        ]
    out = orders.groupBy(*KEY).agg(*aggs).withColumn("avg_order_value", F.col("monetary") / F.col("frequency"))
    # A customer's own rhythm: the mean gap between orders, and how overdue the next one is.
    gap = F.when(F.col("frequency") > 1, (F.col("first_order_days") - F.col("recency_days")) / (F.col("frequency") - 1))
    return out.withColumn("days_between_orders", gap).withColumn(
        "overdue_ratio", F.col("recency_days") / F.greatest(F.col("days_between_orders"), F.lit(1.0))
    )


def event_rows(events: DataFrame, products: DataFrame | None = None) -> DataFrame:
    """Events summed per customer, day, hour and session: the rows every event feature reads.

    A day lies wholly before a cutoff or wholly not, and every feature read from these rows is a sum, a minimum,
    a maximum or a distinct count of sessions, so they stand in for the events exactly: the cutoffs multiply
    them (a few per session) rather than every event. Columns: customer_id, `DAY`, _hour, session_id, `_<event_type>`
    counts, _events, _mobile and _devices (events with a known device); with `products`, also _viewed_price (the
    views' prices relative to their category's mean, summed) and _viewed_priced (views of a product with a price).
    """
    kind = F.col("event_type")
    aggs = [
        *[F.sum((kind == k).cast("int")).alias(f"_{k}") for k in EVENT_TYPES],
        F.count(F.lit(1)).alias("_events"),
        F.sum((F.col("device") == "mobile").cast("int")).alias("_mobile"),
        F.count("device").alias("_devices"),
    ]
    if products is not None:
        viewed = F.when(kind == "view", F.col(_RELATIVE_PRICE).cast(_EXACT))
        aggs += [F.sum(viewed).alias("_viewed_price"), F.count(viewed).alias("_viewed_priced")]
        events = events.join(F.broadcast(_relative_prices(products)), on="product_id", how="left")
    return events.groupBy(
        "customer_id", F.to_date("event_ts").alias(DAY), F.hour("event_ts").alias("_hour"), "session_id"
    ).agg(*aggs)


def event_features(rows: DataFrame, cutoffs: DataFrame, windows: Sequence[int]) -> DataFrame:
    """Funnel counts and rates, sessions, device mix and the activity trend from `event_rows` before each cutoff."""
    aggs = [F.sum(f"_{k}").alias(f"{k}s") for k in ("view", "click", "purchase")]
    aggs += [
        F.sum("_add_to_cart").alias("carts"),
        F.countDistinct("session_id").alias("sessions"),
        F.sum("_events").alias("events"),
        F.when(F.sum("_devices") > 0, F.sum("_mobile") / F.sum("_devices")).alias("mobile_share"),
        F.datediff(F.col(CUTOFF), F.max(DAY)).alias("days_since_last_event"),
        F.datediff(F.col(CUTOFF), F.min(DAY)).alias("_observed_days"),
    ]
    for days in windows:
        aggs.append(F.sum(F.when(_in_window(DAY, days), F.col("_events")).otherwise(0)).alias(f"events_{days}d"))
    prior = F.when(_in_window(DAY, 90, skip=30), F.col("_events")).otherwise(0)
    aggs.append(F.sum(prior).alias("_events_prior_90d"))
    out = before(rows, DAY, cutoffs).groupBy(*KEY).agg(*aggs)
    rate_30 = F.coalesce(F.col("events_30d"), F.lit(0)) / 30.0 + TREND_EPSILON
    rate_prior = F.col("_events_prior_90d") / 90.0 + TREND_EPSILON
    return out.select(
        "*",
        F.when(F.col("carts") > 0, F.greatest(F.lit(0.0), 1 - F.col("purchases") / F.col("carts"))).alias(
            "cart_abandonment_rate"
        ),
        F.when(F.col("views") > 0, F.col("purchases") / F.col("views")).alias("conversion_rate"),
        F.when(F.col("sessions") > 0, F.col("views") / F.col("sessions")).alias("views_per_session"),
        F.log(rate_30 / rate_prior).alias("activity_trend"),
        # Visits per month since the first event: late sign-ups compare fairly with early ones.
        (F.col("sessions") / F.greatest(F.col("_observed_days") / 30.44, F.lit(1.0))).alias("sessions_per_month"),
    ).drop("_events_prior_90d", "_observed_days")


def _relative_prices(products: DataFrame) -> DataFrame:
    """(product_id, `_RELATIVE_PRICE`): each product's price over its category's mean price (a row per product)."""
    category_mean = products.groupBy("category").agg(F.avg("price").alias("_cat_price"))
    return products.join(category_mean, on="category", how="inner").select(
        "product_id", (F.col("price") / F.col("_cat_price")).alias(_RELATIVE_PRICE)
    )


def price_index(rows: DataFrame, cutoffs: DataFrame) -> DataFrame:
    """Mean price of the products a customer viewed, relative to their category's mean price (1 = typical), from
    `event_rows` made with products, before each cutoff.

    A price-sensitivity measure that doesn't depend on which categories a customer likes. Views of a product
    without a price (or unknown to the catalogue) don't count; a customer with none of them gets null.
    """
    priced = F.sum("_viewed_priced")
    return (
        before(rows, DAY, cutoffs)
        .groupBy(*KEY)
        .agg(F.when(priced > 0, F.sum("_viewed_price").cast("double") / priced).alias("price_index"))
    )


def _mode(df: DataFrame, value: Column, name: str) -> DataFrame:
    """The most frequent value per customer and cutoff, counting `_n` per row (ties go to the smallest value)."""
    counts = df.groupBy(*KEY, value.alias(name)).agg(F.sum("_n").alias("_n"))
    best = F.row_number().over(Window.partitionBy(*KEY).orderBy(F.desc("_n"), F.col(name)))
    return counts.withColumn("_r", best).where(F.col("_r") == 1).select(*KEY, name)


def timing_features(rows: DataFrame | None, lines: DataFrame | None, cutoffs: DataFrame) -> DataFrame | None:
    """Preferred weekday and hour, from events (as `event_rows`) and distinct order times before each cutoff."""
    parts = []
    if rows is not None:
        parts.append(rows.select("customer_id", DAY, "_hour", F.col("_events").alias("_n")))
    if lines is not None:
        stamps = lines.select("customer_id", "order_ts").distinct()
        parts.append(
            stamps.groupBy("customer_id", F.to_date("order_ts").alias(DAY), F.hour("order_ts").alias("_hour")).agg(
                F.count(F.lit(1)).alias("_n")
            )
        )
    if not parts:
        return None
    hours = before(union_all(parts), DAY, cutoffs)
    weekday = F.element_at(F.array(*map(F.lit, WEEKDAYS)), F.dayofweek(DAY))
    return _mode(hours, weekday, "preferred_weekday").join(
        _mode(hours, F.col("_hour"), "preferred_hour"), on=KEY, how="inner"
    )


def category_features(lines: DataFrame, products: DataFrame, cutoffs: DataFrame, top_n: int) -> DataFrame:
    """Revenue share per category (a map over each cutoff's top N categories) and the favourite category."""
    bought = before(lines, "order_ts", cutoffs).join(
        F.broadcast(products.select("product_id", "category")), on="product_id", how="inner"
    )
    by_revenue = bought.groupBy(CUTOFF, "category").agg(F.sum("amount").alias("_r"))
    place = F.row_number().over(Window.partitionBy(CUTOFF).orderBy(F.desc("_r"), "category"))
    top = by_revenue.withColumn("_p", place).where(F.col("_p") <= top_n).select(CUTOFF, "category")
    per_cat = bought.groupBy(*KEY, "category").agg(F.sum("amount").alias("revenue"))
    shares = per_cat.withColumn("share", F.col("revenue") / F.sum("revenue").over(Window.partitionBy(*KEY)))
    best = F.row_number().over(Window.partitionBy(*KEY).orderBy(F.desc("share"), "category"))
    favourite = (
        shares.withColumn("_r", best)
        .where(F.col("_r") == 1)
        .select(*KEY, F.col("category").alias("top_category"), F.col("share").alias("top_category_share"))
    )
    # At most cutoffs x top_n rows.
    mix = (
        shares.join(F.broadcast(top), on=[CUTOFF, "category"], how="left_semi")
        .groupBy(*KEY)
        .agg(F.map_from_entries(F.collect_list(F.struct("category", "share"))).alias("category_shares"))
    )
    return favourite.join(mix, on=KEY, how="left")


def campaign_features(contacts: DataFrame, cutoffs: DataFrame) -> DataFrame:
    """Responsiveness to past campaigns: opens, clicks and conversions per treated contact."""
    treated = before(contacts, "sent_ts", cutoffs).where(F.coalesce(F.col("group"), F.lit("treatment")) == "treatment")
    return treated.groupBy(*KEY).agg(
        F.count(F.lit(1)).alias("campaign_contacts"),
        F.avg(F.col("opened").cast("double")).alias("campaign_open_rate"),
        F.avg(F.col("clicked").cast("double")).alias("campaign_click_rate"),
        F.avg(F.col("converted").cast("double")).alias("campaign_conversion_rate"),
    )


def age_band(birth_date: Column, on: Column) -> Column:
    """The age band on the date `on` (a column: each row's own cutoff)."""
    return band_of_age(F.floor(F.months_between(on, birth_date) / 12))


def band_of_age(age: Column) -> Column:
    """The band of an age in whole years (null for a missing or negative age)."""
    expr = F.when(F.lit(False), F.lit(None))
    for low, high, label in AGE_BANDS:
        expr = expr.when((age >= low) & (age < high), F.lit(label))
    return expr.otherwise(F.lit(None).cast("string"))
