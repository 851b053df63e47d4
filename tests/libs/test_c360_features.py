"""Event features against their definition, computed event by event in Python on random tiny data."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter

import pytest
from pyspark.sql import SparkSession

from pmkt.libs.c360 import features as fx

EVENTS = (
    "customer_id string, product_id string, event_type string, event_ts timestamp, device string, session_id string"
)
CUTOFFS = [dt.date(2025, 3, 1), dt.date(2025, 3, 20), dt.date(2025, 4, 2)]
WINDOWS = (7, 30)
PRICES = {"P1": ("a", 10.0), "P2": ("a", 30.0), "P3": ("b", 5.0), "P4": ("b", 7.0)}


def _events(seed: int) -> list[tuple]:
    """Sessions that cross midnight and recur on other days, unknown devices and types, a product with no price."""
    rng = random.Random(seed)
    rows = []
    for c in ("A", "B", "C", "D"):
        for s in range(rng.randint(1, 6)):
            start = dt.datetime(2025, 1, 20) + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 75))
            for _ in range(rng.randint(1, 8)):
                ts = start + dt.timedelta(minutes=rng.randint(0, 300))
                rows.append(
                    (
                        c,
                        rng.choice(["P1", "P2", "P3", "P4", "P9"]),
                        rng.choice(["view", "view", "click", "add_to_cart", "purchase", None]),
                        ts,
                        rng.choice(["mobile", "desktop", None]),
                        rng.choice([f"{c}-s{s}", f"{c}-s{s}", None, f"{c}-s0"]),
                    )
                )
    return rows


def _expected(rows: list[tuple], cutoff: dt.date) -> dict[str, dict[str, object]]:
    """Every feature by its definition, from the events strictly before `cutoff`."""
    out = {}
    for c in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == c and r[3] < dt.datetime.combine(cutoff, dt.time())]
        if not mine:
            continue
        ago = [(cutoff - r[3].date()).days for r in mine]
        devices = [r[4] for r in mine if r[4] is not None]
        views = [PRICES[r[1]] for r in mine if r[2] == "view" and r[1] in PRICES]
        hours = Counter(r[3].hour for r in mine)
        weekdays = Counter(fx.WEEKDAYS[(r[3].weekday() + 1) % 7] for r in mine)
        means = {cat: sum(p for k, p in PRICES.values() if k == cat) / 2 for cat in ("a", "b")}
        out[c] = {
            "views": sum(r[2] == "view" for r in mine),
            "carts": sum(r[2] == "add_to_cart" for r in mine),
            "purchases": sum(r[2] == "purchase" for r in mine),
            "sessions": len({r[5] for r in mine if r[5] is not None}),
            "events": len(mine),
            "mobile_share": devices.count("mobile") / len(devices) if devices else None,
            "days_since_last_event": min(ago),
            **{f"events_{d}d": sum(0 < a <= d for a in ago) for d in WINDOWS},
            "preferred_hour": min(hours, key=lambda h: (-hours[h], h)),
            "preferred_weekday": min(weekdays, key=lambda w: (-weekdays[w], w)),
            "price_index": sum(p / means[k] for k, p in views) / len(views) if views else None,
        }
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_event_features_equal_their_definition_event_by_event(spark: SparkSession, seed: int) -> None:
    rows = _events(seed)
    events = spark.createDataFrame(rows, EVENTS)
    products = spark.createDataFrame(
        [(p, k, v) for p, (k, v) in PRICES.items()], "product_id string, category string, price double"
    )
    days = fx.cutoff_frame(spark, CUTOFFS)
    per_row = fx.event_rows(events, products)
    got = (
        fx.event_features(per_row, days, WINDOWS)
        .join(fx.timing_features(per_row, None, days), on=fx.KEY, how="left")
        .join(fx.price_index(per_row, days), on=fx.KEY, how="left")
    )
    found = {(r.customer_id, r.snapshot_date): r.asDict() for r in got.collect()}  # a few rows
    expected = {(c, d): f for d in CUTOFFS for c, f in _expected(rows, d).items()}
    assert set(found) == set(expected)
    for key, want in expected.items():
        for name, value in want.items():
            if isinstance(value, float):
                assert found[key][name] == pytest.approx(value, rel=1e-12), (key, name)
            else:
                assert found[key][name] == value, (key, name)
    # The trend compares the last 30 days' rate with the 90 days before them.
    for (c, d), row in found.items():
        ago = [(d - r[3].date()).days for r in rows if r[0] == c and r[3].date() < d]
        prior = sum(30 < a <= 120 for a in ago)
        trend = math.log((row["events_30d"] / 30 + fx.TREND_EPSILON) / (prior / 90 + fx.TREND_EPSILON))
        assert row["activity_trend"] == pytest.approx(trend, rel=1e-12)
