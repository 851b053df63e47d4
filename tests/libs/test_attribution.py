"""Attribution on hand-built journeys: the paths, each rule's credit and the Markov removal effects, exactly."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import SparkSession

from pmkt.libs.attribution import credit, markov, paths

DAY = dt.datetime(2026, 1, 1)


def at(day: float) -> dt.datetime:
    return DAY + dt.timedelta(days=day)


def test_paths_cut_at_orders_and_convert_only_within_the_window(spark: SparkSession) -> None:
    touched = spark.createDataFrame(
        [
            ("c1", at(1), "A", 1.0),
            ("c1", at(2), "B", 1.0),
            ("c1", at(30), "A", 1.0),
            ("c2", at(1), "B", 1.0),
            ("c3", at(55), "A", 1.0),
            ("c4", at(10), "B", 1.0),
        ],
        "customer_id string, ts timestamp, channel string, cost double",
    )
    ordered = spark.createDataFrame(
        [("c1", at(5), 10.0), ("c2", at(40), 7.0), ("c4", at(10), 3.0), ("c4", at(12), 4.0)],
        "customer_id string, ts timestamp, revenue double",
    )
    found = paths.paths(touched, ordered, 14.0, at(60)).collect()  # five paths
    got = {(r.customer_id, tuple(r.channels), r.converted, r.censored, r.revenue) for r in found}
    assert got == {
        ("c1", ("A", "B"), True, False, 10.0),  # ordered 3 days after the last touch
        ("c1", ("A",), False, False, 0.0),  # no order after it, and the window closed before the end
        ("c2", ("B",), False, False, 0.0),  # the order came 39 days later: organic
        ("c3", ("A",), False, True, 0.0),  # 5 days before the end: it may still convert
        ("c4", ("B",), True, False, 3.0),  # a touch at the instant of an order comes before it; the next order
    }  # (day 12) has no touch of its own, so it starts no path


def test_rule_credit_splits_each_conversion_by_position_and_time(spark: SparkSession) -> None:
    rows = spark.createDataFrame(
        [
            ("c1", ["A", "B"], [at(1), at(8)], True, False, 10.0, at(8) + dt.timedelta(hours=0)),
            ("c2", ["B"], [at(3)], True, False, 20.0, at(4)),
            ("c3", ["A"], [at(3)], False, False, 0.0, None),
        ],
        "customer_id string, channels array<string>, times array<timestamp>, converted boolean, censored boolean, "
        "revenue double, conversion_ts timestamp",
    )
    got = {(r.model, r.channel): (r.conversions, r.revenue) for r in credit.rule_credit(rows, 7.0).collect()}
    expected = {
        ("first_touch", "A"): (1, 10),
        ("first_touch", "B"): (1, 20),
        ("last_touch", "B"): (2, 30),
        ("last_touch", "A"): (0, 0),
        ("linear", "A"): (0.5, 5),
        ("linear", "B"): (1.5, 25),
        # A is one half-life (7 days) older than B at c1's conversion: weights 1/2 and 1, so 1/3 and 2/3.
        ("time_decay", "A"): (1 / 3, 10 / 3),
        ("time_decay", "B"): (1 + 2 / 3, 20 + 20 / 3),
    }
    assert got.keys() == expected.keys()
    for key, (conversions, revenue) in expected.items():
        assert got[key] == (pytest.approx(conversions), pytest.approx(revenue)), key


def test_markov_removal_effects_equal_the_hand_computed_chain(spark: SparkSession) -> None:
    """A→B→conversion, A→null, B→null. From (start): A 2/3, B 1/3; A→B 1/2, A→null 1/2; B→conv 1/2,
    B→null 1/2.
    P(conversion) = 2/3·1/2·1/2 + 1/3·1/2 = 1/3. Without A: 1/3·1/2 = 1/6, so A's effect is 1/2; without B: 0, so
    B's is 1. One conversion is credited 1/3 to A and 2/3 to B."""
    rows = spark.createDataFrame(
        [(["A", "B"], True), (["A"], False), (["B"], False)], "channels array<string>, converted boolean"
    )
    steps = [(r.src, r.dst, r.n) for r in markov.transitions(rows).collect()]  # six distinct steps
    assert sorted(steps) == sorted(
        [
            ("(start)", "A", 2),
            ("(start)", "B", 1),
            ("A", "B", 1),
            ("A", "(null)", 1),
            ("B", "(conversion)", 1),
            ("B", "(null)", 1),
        ]
    )
    chain = markov.Chain.from_counts(steps)
    assert chain.conversion_probability() == pytest.approx(1 / 3)
    assert chain.removal_effects() == {"A": pytest.approx(1 / 2), "B": pytest.approx(1.0)}
    assert markov.credit(chain.removal_effects(), 1.0) == {"A": pytest.approx(1 / 3), "B": pytest.approx(2 / 3)}

    # A loop: A→A→conversion and A→null. From A: stay 1/3, convert 1/3, drop 1/3, so P = 1/3 / (1 − 1/3) = 1/2.
    loop = markov.Chain.from_counts([("(start)", "A", 2), ("A", "A", 1), ("A", "(conversion)", 1), ("A", "(null)", 1)])
    assert loop.conversion_probability() == pytest.approx(0.5) and loop.removal_effects() == {"A": pytest.approx(1)}
