"""One feature snapshot: a row per customer known at the cutoff, with every feature group joined."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs.c360 import features as fx
from pmkt.libs.c360.features import CUTOFF, KEY
from pmkt.libs.config import FeaturesConfig
from pmkt.libs.frames import union_all

# Counts are 0 for a customer without that activity; rates stay null (undefined) and are imputed by models.
COUNT_COLUMNS = (
    "frequency",
    "monetary",
    "views",
    "clicks",
    "carts",
    "purchases",
    "sessions",
    "events",
    "campaign_contacts",
)


@dataclass(frozen=True)
class Inputs:
    """Silver tables a snapshot reads; any may be missing (CDNOW has only order lines)."""

    lines: DataFrame | None
    events: DataFrame | None = None
    customers: DataFrame | None = None
    products: DataFrame | None = None
    contacts: DataFrame | None = None


def universe(inputs: Inputs, cutoffs: DataFrame) -> DataFrame:
    """(customer_id, snapshot_date) of the customers known at each cutoff: signed up before it, or active before it."""
    ids = []
    if inputs.customers is not None:
        signed_up = F.col("signup_date").isNull() | (F.col("signup_date") < F.col(CUTOFF))
        ids.append(
            inputs.customers.select("customer_id", "signup_date")
            .join(F.broadcast(cutoffs), signed_up, how="inner")
            .select(*KEY)
        )
    if inputs.lines is not None:
        ids.append(fx.before(inputs.lines.select("customer_id", "order_ts"), "order_ts", cutoffs).select(*KEY))
    if inputs.events is not None:
        ids.append(fx.before(inputs.events.select("customer_id", "event_ts"), "event_ts", cutoffs).select(*KEY))
    return union_all(ids).distinct()


def build(inputs: Inputs, cutoff: dt.date, cfg: FeaturesConfig) -> DataFrame:
    """The feature row of every customer as of `cutoff` (exclusive)."""
    return build_many(inputs, [cutoff], cfg)


def build_many(inputs: Inputs, cutoffs: Sequence[dt.date], cfg: FeaturesConfig) -> DataFrame:
    """The feature rows of every customer as of each of `cutoffs` (exclusive), in one pass over the inputs."""
    source = inputs.lines if inputs.lines is not None else inputs.events
    if source is None:
        raise ValueError("a snapshot needs order lines or events")
    days = fx.cutoff_frame(source.sparkSession, cutoffs)
    df = universe(inputs, days)
    parts = []
    if inputs.lines is not None:
        parts.append(fx.order_features(inputs.lines, inputs.products, days, cfg.windows))
        if inputs.products is not None:
            parts.append(fx.category_features(inputs.lines, inputs.products, days, cfg.top_categories))
    if inputs.events is not None:
        parts.append(fx.event_features(inputs.events, days, cfg.windows))
        if inputs.products is not None:
            parts.append(fx.price_index(inputs.events, inputs.products, days))
    timing = fx.timing_features(inputs.events, inputs.lines, days)
    if timing is not None:
        parts.append(timing)
    if inputs.contacts is not None:
        parts.append(fx.campaign_features(inputs.contacts, days))
    for part in parts:
        df = df.join(part, on=KEY, how="left")
    if inputs.customers is not None:
        c = inputs.customers
        df = df.join(
            c.select(
                "customer_id",
                "birth_date",
                "gender",
                "city",
                "email_domain",
                "consent",
                F.col("channel").alias("signup_channel"),
                "signup_date",
            ),
            on="customer_id",
            how="left",
        )
    return _contract(df, cfg)


def _contract(df: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """The gold.customer_features schema, whatever inputs were present."""

    def col(name: str, kind: str) -> F.Column:
        present = F.col(name) if name in df.columns else F.lit(None)
        present = present.cast(kind)
        return (
            F.coalesce(present, F.lit(0).cast(kind))
            if name in COUNT_COLUMNS or name.startswith(("orders_", "revenue_", "events_"))
            else present
        ).alias(name)

    first_seen = F.least(*[F.col(c) for c in ("first_order_days",) if c in df.columns], F.lit(None).cast("int"))
    tenure = F.datediff(F.col(CUTOFF), F.col("signup_date")) if "signup_date" in df.columns else F.lit(None)
    windows = [c for d in cfg.windows for c in (f"orders_{d}d", f"revenue_{d}d", f"events_{d}d")]
    kinds = (
        {f"orders_{d}d": "int" for d in cfg.windows}
        | {f"revenue_{d}d": "double" for d in cfg.windows}
        | {f"events_{d}d": "int" for d in cfg.windows}
    )
    return df.select(
        F.col(CUTOFF).alias("snapshot_date"),
        "customer_id",
        col("recency_days", "int"),
        col("frequency", "int"),
        col("monetary", "double"),
        col("avg_order_value", "double"),
        col("avg_items_per_order", "double"),
        col("price_index", "double"),
        col("margin_total", "double"),
        F.coalesce(tenure, first_seen).cast("int").alias("tenure_days"),
        col("first_order_days", "int"),
        col("days_between_orders", "double"),
        col("overdue_ratio", "double"),
        col("views", "int"),
        col("clicks", "int"),
        col("carts", "int"),
        col("purchases", "int"),
        col("sessions", "int"),
        col("events", "int"),
        col("sessions_per_month", "double"),
        col("cart_abandonment_rate", "double"),
        col("conversion_rate", "double"),
        col("views_per_session", "double"),
        col("days_since_last_event", "int"),
        *[col(c, kinds[c]) for c in windows],
        col("activity_trend", "double"),
        col("top_category", "string"),
        col("top_category_share", "double"),
        (F.col("category_shares") if "category_shares" in df.columns else F.lit(None).cast("map<string,double>")).alias(
            "category_shares"
        ),
        col("mobile_share", "double"),
        col("preferred_weekday", "string"),
        col("preferred_hour", "int"),
        col("campaign_contacts", "int"),
        col("campaign_open_rate", "double"),
        col("campaign_click_rate", "double"),
        col("campaign_conversion_rate", "double"),
        (
            fx.age_band(F.col("birth_date"), F.col(CUTOFF))
            if "birth_date" in df.columns
            else F.lit(None).cast("string")
        ).alias("age_band"),
        col("gender", "string"),
        col("city", "string"),
        col("email_domain", "string"),
        col("signup_channel", "string"),
        col("consent", "boolean"),
    )
