"""Implicit feedback: one strength per (customer, product) from events, orders and ratings.

Orders are the record of purchases: when silver has order lines, each line counts once with the
`purchase` weight and purchase *events* up to the latest order line are ignored, so a purchase is never
counted twice. Purchase events after it (the stream's, before the next order export) stand in for orders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.config import RecommendConfig
from pmkt.libs.errors import MissingInput
from pmkt.libs.frames import one, union_all
from pmkt.libs.lake import Lake

# The strongest kind of contact decides the words in a reason ("because you bought X").
KIND_RANK = {"view": 1, "click": 2, "add_to_cart": 3, "rating": 4, "purchase": 5}
KIND_VERB = {
    "view": "viewed",
    "click": "clicked",
    "add_to_cart": "added to cart",
    "rating": "rated",
    "purchase": "bought",
}
CONSUMED = ("purchase", "rating")  # a bought or rated item is excluded from recommendations (if configured)


@dataclass(frozen=True)
class Feedback:
    """Raw weighted contacts (customer_id, product_id, ts, kind, weight) and the products, if known."""

    contacts: DataFrame
    products: DataFrame | None


def load(lake: Lake, cfg: RecommendConfig) -> Feedback:
    """Every weighted contact in silver; raises when there is none to learn from."""

    def maybe(entity: str) -> DataFrame | None:
        return lake.read_if_exists(tables.SILVER[entity])

    lines, events, ratings = maybe("transactions"), maybe("events"), maybe("ratings")
    parts = []
    weights = dict(cfg.event_weights)
    if lines is not None and weights.get("purchase", 0) > 0:
        parts.append(
            lines.where(F.col("product_id").isNotNull()).select(
                "customer_id",
                "product_id",
                F.col("order_ts").alias("ts"),
                F.lit("purchase").alias("kind"),
                F.lit(weights["purchase"]).alias("weight"),
            )
        )
    if events is not None:
        counted = {k: w for k, w in weights.items() if w > 0}
        recorded = F.lit(False)
        if lines is not None and "purchase" in counted:
            last_order = one(lines.agg(F.max("order_ts")))[0]  # one value
            if last_order is not None:
                recorded = (F.col("event_type") == "purchase") & (F.col("event_ts") <= F.lit(last_order))
        if counted:
            weight = F.create_map(*[F.lit(x) for kv in counted.items() for x in kv])[F.col("event_type")]
            wanted = F.col("product_id").isNotNull() & F.col("event_type").isin(*counted) & ~recorded
            parts.append(
                events.where(wanted).select(
                    "customer_id",
                    "product_id",
                    F.col("event_ts").alias("ts"),
                    F.col("event_type").alias("kind"),
                    weight.cast("double").alias("weight"),
                )
            )
    if ratings is not None:
        # Every rating is a contact, so a rated item is never recommended back; below min_rating it
        # carries no weight (no positive signal), above it rating_weight x its scaled distance from rating_centre.
        positive = F.col("rating") >= cfg.min_rating
        above = F.greatest(F.col("rating") - cfg.rating_centre, F.lit(0.0))
        scaled = F.log1p(above) if cfg.rating_scale == "log" else above
        weight = F.when(positive, scaled * cfg.rating_weight)
        parts.append(
            ratings.select(
                "customer_id",
                "product_id",
                F.col("rated_ts").alias("ts"),
                F.lit("rating").alias("kind"),
                F.coalesce(weight, F.lit(0.0)).cast("double").alias("weight"),
            )
        )
    if not parts:
        raise MissingInput(
            "no events, order lines with products or ratings in silver: nothing to recommend from (run ingest)"
        )
    contacts = union_all(parts)
    return Feedback(contacts.where(F.col("customer_id").isNotNull()), maybe("products"))


def strengths(contacts: DataFrame, cfg: RecommendConfig, as_of: dt.datetime) -> DataFrame:
    """(customer_id, product_id, strength, last_ts, kind, consumed): summed weights, decayed to `as_of`.

    With a half-life h, a contact `age` days old counts weight x 0.5^(age/h). A contact without a time
    (a rating or order line exported undated) is history of unknown age: it counts, undecayed.
    """
    age_days = (F.unix_timestamp(F.lit(as_of)) - F.unix_timestamp("ts")) / 86400.0
    decay = (
        F.pow(F.lit(0.5), F.greatest(F.coalesce(age_days, F.lit(0.0)), F.lit(0.0)) / cfg.half_life_days)
        if cfg.half_life_days > 0
        else F.lit(1.0)
    )
    rank = F.create_map(*[F.lit(x) for kv in KIND_RANK.items() for x in kv])[F.col("kind")]
    before = F.col("ts").isNull() | (F.col("ts") < F.lit(as_of))
    return (
        contacts.where(before)
        .groupBy("customer_id", "product_id")
        .agg(
            F.sum(F.col("weight") * decay).alias("strength"),
            F.max("ts").alias("last_ts"),
            F.max_by("kind", rank).alias("kind"),
            F.max(F.col("kind").isin(*CONSUMED).cast("int")).cast("boolean").alias("consumed"),
        )
        .where(F.col("strength") > 0)
    )


def excluded(contacts: DataFrame, cfg: RecommendConfig) -> DataFrame | None:
    """(customer_id, product_id) pairs the serving rules never recommend: every item the customer
    turned to (`exclude: seen`), only bought or rated ones (`consumed`), or none."""
    if cfg.exclude == "none":
        return None
    pairs = contacts if cfg.exclude == "seen" else contacts.where(F.col("kind").isin(*CONSUMED))
    return pairs.select("customer_id", "product_id").distinct()


@dataclass(frozen=True)
class Span:
    """When the contacts happened: the latest time (None when none has one) and how many have no time."""

    latest: dt.datetime | None
    contacts: int
    undated: int


def span(contacts: DataFrame) -> Span:
    """The contacts' span in one aggregation; raises when no contact names a product."""
    row = one(contacts.agg(F.max("ts"), F.count(F.lit(1)), F.count_if(F.col("ts").isNull())))  # one row
    latest, contacted, undated = row[0], int(row[1]), int(row[2])
    if not contacted:
        raise MissingInput("no order line, event or rating names a product (product_id): nothing to recommend")
    return Span(latest, contacted, undated)
