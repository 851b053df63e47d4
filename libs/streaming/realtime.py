"""Real-time per-customer counters and the stream's triggers, recomputed from silver for the customers a
micro-batch can change.

The state lives in Delta, not in a streaming state store: silver is the record of every event, and each batch
recomputes the counters of the customers it touched plus those whose windows slid as the clock moved. So a
batch run twice (after a crash) writes the same rows, an erased customer leaves no state behind, and the rows
do not depend on how events were cut into batches. The clock is event time: the latest valid event the
stream ingested. The watermark, `stream.watermark_minutes` behind it, is how long a late event (a purchase)
may still cancel a trigger that waits for something not to happen (a cart abandoned).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.campaign import triggers
from pmkt.libs.config import TriggerRule
from pmkt.libs.frames import one, union_all
from pmkt.libs.ingest.report import STREAM_PREFIX
from pmkt.libs.lake import Lake

WINDOWS = (("1h", 1), ("24h", 24))  # counter windows: name, hours up to the clock
KINDS = (("events", None), ("views", "view"), ("carts", "add_to_cart"), ("purchases", "purchase"))
STREAM_KINDS = ("cart_abandoned", "first_purchase", "high_value_return")  # the trigger kinds events can fire


def clock(previous: DataFrame | None, rows: DataFrame) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(clock before this batch, clock after it): the latest valid event time ingested by the stream."""
    before = one(previous.agg(F.max("as_of")))[0] if previous is not None else None  # one value
    latest = one(rows.agg(F.max("event_ts")))[0]  # one value
    known = [t for t in (before, latest) if t is not None]
    return before, max(known) if known else None


def lookback_hours(rules: Sequence[TriggerRule], watermark_minutes: float) -> float:
    """How far back of the clock a customer's state can still change: the longest counter window or cart wait."""
    carts = [r.hours for r in rules if r.kind == "cart_abandoned"]
    return max([WINDOWS[-1][1], *carts]) + watermark_minutes / 60.0


def affected(rows: DataFrame, previous: DataFrame | None, before: dt.datetime | None, hours: float) -> DataFrame:
    """(customer_id): customers with events in this batch, and those seen within `hours` of the previous clock
    (their windows slide as the clock moves, down to zero)."""
    touched = rows.select("customer_id").where(F.col("customer_id").isNotNull())
    if previous is None or before is None:
        return touched.distinct()
    since = before - dt.timedelta(hours=hours)
    sliding = previous.where(F.col("last_seen") > F.lit(since)).select("customer_id")
    return touched.unionByName(sliding).distinct()


def history(lake: Lake, customers: DataFrame) -> DataFrame:
    """Every silver event of `customers` (the columns counters and triggers read)."""
    events = lake.read(tables.SILVER["events"]).select(
        "event_id", "customer_id", "product_id", "event_type", "event_ts", "_ingest_id"
    )
    return events.join(customers, on="customer_id", how="left_semi")


def features(events: DataFrame, as_of: dt.datetime) -> DataFrame:
    """gold.realtime_features rows: counts per kind in each window up to `as_of`, and the latest event."""
    counts = []
    for window, hours in WINDOWS:
        inside = (F.col("event_ts") > F.lit(as_of - dt.timedelta(hours=hours))) & (F.col("event_ts") <= F.lit(as_of))
        for kind, event_type in KINDS:
            wanted = inside if event_type is None else inside & (F.col("event_type") == event_type)
            counts.append(F.count_if(wanted).alias(f"{kind}_{window}"))
    return events.groupBy("customer_id").agg(
        F.lit(as_of).alias("as_of"),
        F.max("event_ts").alias("last_seen"),
        *counts,
        F.current_timestamp().alias("updated_at"),
    )


def actions(
    rules: Sequence[TriggerRule],
    events: DataFrame,
    lines: DataFrame | None,
    profiles: DataFrame | None,
    run_id: str,
    watermark: dt.datetime,
) -> DataFrame | None:
    """The triggers this batch fires, in gold.actions' shape (before consent): carts the stream ingested that
    stayed without a purchase until the watermark passed their wait, first purchases and high-value returns
    among this batch's events. Rules of other kinds (birthdays, churn risk) are the batch campaign's."""
    new = F.col("_ingest_id") == run_id
    found = []
    for rule in rules:
        if rule.kind == "cart_abandoned":
            streamed = F.col("_ingest_id").startswith(STREAM_PREFIX)
            found.append(triggers.cart_abandoned(events, rule, watermark, cart_filter=streamed))
        elif rule.kind == "first_purchase":
            found.append(triggers.first_purchase_among(lines, events, rule, new))
        elif rule.kind == "high_value_return" and profiles is not None:
            found.append(triggers.high_value_return(events, profiles, rule, new))
    return union_all(found) if found else None
