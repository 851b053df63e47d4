"""The stream's building blocks on tiny inputs: counters against a hand count, the customers a batch can change,
and the event triggers (carts the stream saw, first purchases, high-value returns)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from pmkt.libs.campaign import triggers
from pmkt.libs.config import TriggerRule
from pmkt.libs.streaming import realtime

T0 = dt.datetime(2026, 4, 1, 12, 0)
EVENTS = (
    "event_id string, customer_id string, product_id string, event_type string, event_ts timestamp, _ingest_id string"
)


def _at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_counters_match_a_hand_count_at_the_window_edges(spark: SparkSession) -> None:
    events = spark.createDataFrame(
        [
            ("e1", "a", "P1", "view", _at(0), "x"),  # exactly at the clock: inside both windows
            ("e2", "a", "P1", "add_to_cart", _at(-60), "x"),  # exactly one hour back: outside 1h, inside 24h
            ("e3", "a", "P2", "purchase", _at(-59), "x"),
            ("e4", "a", "P3", "view", _at(-24 * 60), "x"),  # exactly 24 hours back: outside both
            ("e5", "b", "P1", "view", _at(-30 * 60), "x"),  # only old events: zero counts, last seen kept
        ],
        EVENTS,
    )
    got = {r.customer_id: r.asDict() for r in realtime.features(events, T0).collect()}
    assert {k: got["a"][k] for k in ("events_1h", "views_1h", "carts_1h", "purchases_1h")} == {
        "events_1h": 2,
        "views_1h": 1,
        "carts_1h": 0,
        "purchases_1h": 1,
    }
    assert {k: got["a"][k] for k in ("events_24h", "views_24h", "carts_24h", "purchases_24h")} == {
        "events_24h": 3,
        "views_24h": 1,
        "carts_24h": 1,
        "purchases_24h": 1,
    }
    assert got["a"]["last_seen"] == T0 and got["a"]["as_of"] == T0
    assert got["b"]["events_24h"] == 0 and got["b"]["last_seen"] == _at(-30 * 60)


def test_a_batch_changes_its_customers_and_those_whose_windows_slide(spark: SparkSession) -> None:
    rows = spark.createDataFrame([("a",), ("a",), (None,)], "customer_id string")
    previous = spark.createDataFrame(
        [("b", _at(-10 * 60)), ("c", _at(-30 * 60)), ("a", _at(-5))], "customer_id string, last_seen timestamp"
    )
    got = realtime.affected(rows, previous, T0, 24.0)
    assert sorted(r.customer_id for r in got.collect()) == ["a", "b"]  # c fell out of every window before
    assert realtime.lookback_hours([TriggerRule("c", "cart_abandoned", "x", hours=30)], 30) == 30.5


def test_stream_triggers_fire_on_this_batch_only(spark: SparkSession) -> None:
    new, old = "stream-x-000000002", "batch-1"
    events = spark.createDataFrame(
        [
            # u1: a cart the stream ingested, no purchase, the wait has passed: abandoned
            ("c1", "u1", "P1", "add_to_cart", _at(-120), "stream-x-000000001"),
            # u2: the same, but bought within the hour: not abandoned (and it is u2's first purchase)
            ("c2", "u2", "P1", "add_to_cart", _at(-120), "stream-x-000000001"),
            ("b2", "u2", "P1", "purchase", _at(-100), new),
            # u3: a cart from batch ingest: the batch campaign's, not the stream's
            ("c3", "u3", "P1", "add_to_cart", _at(-120), old),
            # u4: first purchase ever in this batch; u5 bought before (an order line); u6's purchase is an older batch
            ("b4", "u4", "P2", "purchase", _at(-5), new),
            ("b5", "u5", "P2", "purchase", _at(-5), new),
            ("b6", "u6", "P2", "purchase", _at(-500), "stream-x-000000001"),
            # u7: back after 40 days, high value; u8 back after 40 days, low value; u9 back after 10 days
            ("r7a", "u7", "P3", "view", _at(-41 * 1440), old),
            ("r7b", "u7", "P3", "view", _at(-1), new),
            ("r8a", "u8", "P3", "view", _at(-40 * 1440), old),
            ("r8b", "u8", "P3", "view", _at(-1), new),
            ("r9a", "u9", "P3", "view", _at(-10 * 1440), old),
            ("r9b", "u9", "P3", "view", _at(-1), new),
        ],
        EVENTS,
    )
    lines = spark.createDataFrame([("u5", _at(-90 * 1440))], "customer_id string, order_ts timestamp")
    profiles = spark.createDataFrame([("u7", 5), ("u8", 2), ("u9", 5)], "customer_id string, m_score int")
    rules = [
        TriggerRule("cart", "cart_abandoned", "remind", hours=1, days=7),
        TriggerRule("first", "first_purchase", "onboard"),
        TriggerRule("back", "high_value_return", "welcome", days=30, min_score=4),
        TriggerRule("bday", "birthday", "voucher"),  # not an event trigger: left to the batch campaign
    ]
    found = realtime.actions(rules, events, lines, profiles, new, watermark=T0 - dt.timedelta(minutes=10))
    assert found is not None
    got = sorted((r.rule, r.customer_id, r.period, r.detail) for r in found.collect())
    assert got == [
        ("back", "u7", "2026-04-01", "back after 40 days"),
        ("cart", "u1", "2026-04-01", "left P1 in the cart"),
        ("first", "u2", "first", "first order on 2026-04-01"),
        ("first", "u4", "first", "first order on 2026-04-01"),
    ]
    # The cart wait counts from the watermark: 30 minutes later, u1's cart has not waited its hour yet.
    early = realtime.actions(rules[:1], events, lines, profiles, new, watermark=_at(-90))
    assert early is not None and early.count() == 0


def test_high_value_return_in_the_batch_campaign(spark: SparkSession) -> None:
    events = spark.createDataFrame(
        [("a", "u7", "P", "view", _at(-40 * 1440), "x"), ("b", "u7", "P", "view", _at(-60), "x")], EVENTS
    )
    profiles = spark.createDataFrame([("u7", 4)], "customer_id string, m_score int")
    rule = TriggerRule("back", "high_value_return", "welcome", hours=24, days=30)
    inputs = {"events": events, "customer_profiles": profiles}
    found = triggers.detect(rule, inputs, (T0 + dt.timedelta(days=1)).date())
    assert found is not None and [(r.customer_id, r.period) for r in found.collect()] == [("u7", "2026-04-01")]
    assert triggers.detect(rule, {"events": events, "customer_profiles": None}, T0.date()) is None
