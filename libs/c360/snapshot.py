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
from pmkt.libs.contracts import features as contract
from pmkt.libs.contracts.base import expand
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


def universe(inputs: Inputs, event_rows: DataFrame | None, cutoffs: DataFrame) -> DataFrame:
    """(customer_id, snapshot_date) of the customers known at each cutoff: signed up before it, or active before it
    (an order, or one of `event_rows`). A guest order (order lines may carry no customer id) makes nobody known."""
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
    if event_rows is not None:
        ids.append(fx.before(event_rows.select("customer_id", fx.DAY), fx.DAY, cutoffs).select(*KEY))
    return union_all(ids).where(F.col("customer_id").isNotNull()).distinct()


def build(inputs: Inputs, cutoff: dt.date, cfg: FeaturesConfig) -> DataFrame:
    """The feature row of every customer as of `cutoff` (exclusive)."""
    return build_many(inputs, [cutoff], cfg)


def event_rows(inputs: Inputs) -> DataFrame | None:
    """The events summed per session and hour (`features.event_rows`), which four parts of a snapshot read."""
    return fx.event_rows(inputs.events, inputs.products) if inputs.events is not None else None


def build_many(
    inputs: Inputs, cutoffs: Sequence[dt.date], cfg: FeaturesConfig, rows: DataFrame | None = None
) -> DataFrame:
    """The feature rows of every customer as of each of `cutoffs` (exclusive), in one pass over the inputs.

    `rows`: `event_rows(inputs)` if the caller holds them computed; else each part that reads them computes them
    again from the events (Spark's plans for them differ in the columns each part keeps, so no exchange is reused).
    """
    source = inputs.lines if inputs.lines is not None else inputs.events
    if source is None:
        raise ValueError("a snapshot needs order lines or events")
    days = fx.cutoff_frame(source.sparkSession, cutoffs)
    events = rows if rows is not None else event_rows(inputs)
    df = universe(inputs, events, days)
    parts = []
    if inputs.lines is not None:
        parts.append(fx.order_features(inputs.lines, inputs.products, days, cfg.windows))
        if inputs.products is not None:
            parts.append(fx.category_features(inputs.lines, inputs.products, days, cfg.top_categories))
    if events is not None:
        parts.append(fx.event_features(events, days, cfg.windows))
    if events is not None and inputs.products is not None:
        parts.append(fx.price_index(events, days))
    timing = fx.timing_features(events, inputs.lines, days)
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
    """The gold.customer_features columns (`libs.contracts.features`), whatever inputs were present."""
    first_seen = F.col("first_order_days") if "first_order_days" in df.columns else F.lit(None)  # none without orders
    tenure = F.datediff(F.col(CUTOFF), F.col("signup_date")) if "signup_date" in df.columns else F.lit(None)
    derived = {
        contract.SNAPSHOT_DATE.name: F.col(CUTOFF),
        "tenure_days": F.coalesce(tenure, first_seen),
        "age_band": fx.age_band(F.col("birth_date"), F.col(CUTOFF)) if "birth_date" in df.columns else F.lit(None),
    }

    def column(name: str, kind: str, windowed: bool) -> F.Column:
        if name in derived:
            return derived[name].cast(kind)
        present = (F.col(name) if name in df.columns else F.lit(None)).cast(kind)
        return F.coalesce(present, F.lit(0).cast(kind)) if name in COUNT_COLUMNS or windowed else present

    return df.select(
        *[
            column(name, c.kind, windowed=name != c.name).alias(name)
            for name, c in expand(contract.FEATURES, cfg.windows)
        ]
    )
