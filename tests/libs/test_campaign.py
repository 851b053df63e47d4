"""Tiny hand-computed cases for next best offer, limits, statistics, messages and triggers."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from scipy.stats import norm

from pmkt.libs.campaign import audience, evaluation, messages, offers, triggers
from pmkt.libs.campaign import plan as campaign_plan
from pmkt.libs.config import CampaignSpec, ChannelConfig, TriggerRule
from pmkt.libs.errors import ConfigError

SCORED = (
    "customer_id string, offer_type string, product_id string, category string, value double, channel string, "
    "contact_cost double, p_convert double"
)


def test_best_offer_maximises_expected_profit(spark: SparkSession) -> None:
    scored = spark.createDataFrame(
        [
            ("u1", "product", "A", "tv", 100.0, "email", 0.05, 0.10),  # 10 - 0.05 = 9.95
            ("u1", "product", "A", "tv", 100.0, "sms", 1.00, 0.12),  # 12 - 1.00 = 11.00
            ("u1", "cross_sell", "B", "tv", 30.0, "email", 0.05, 0.50),  # 15 - 0.05 = 14.95  <- best
            ("u2", "category", None, "books", 2.0, "email", 0.05, 0.01),  # 0.02 - 0.05 = -0.03
        ],
        SCORED,
    )
    best = {r.customer_id: (r.product_id, r.channel, r.expected_profit) for r in offers.best_offer(scored).collect()}
    assert best == {"u1": ("B", "email", pytest.approx(14.95)), "u2": (None, "email", pytest.approx(-0.03))}


def test_budget_capacity_and_positive_profit_are_respected_exactly(spark: SparkSession) -> None:
    # profits 10, 9, ..., 1, 0 ; email costs 0.1, sms 0.3 with room for one sms contact
    rows = [
        (
            f"u{i}",
            "product",
            "A",
            "tv",
            0.0,
            "sms" if i in (1, 3) else "email",
            0.3 if i in (1, 3) else 0.1,
            float(10 - i),
        )
        for i in range(11)
    ]
    best = spark.createDataFrame(
        rows,
        "customer_id string, offer_type string, product_id string, category string, value double, channel string, "
        "contact_cost double, expected_profit double",
    )
    channels = {"email": ChannelConfig(cost=0.1, capacity=100), "sms": ChannelConfig(cost=0.3, capacity=1)}
    spec = CampaignSpec(id="C", audience="a", channels=("email", "sms"), budget=0.75)
    chosen = [
        r.customer_id for r in offers.within_limits(best, spec, channels).orderBy(F.desc("expected_profit")).collect()
    ]
    # u0 .1, u1 (sms) .4, u3 is the second sms: over capacity, u2 .5, u4 .6, u5 .7, u6 would make .8 > .75
    assert chosen == ["u0", "u1", "u2", "u4", "u5"]
    assert "u10" not in [
        r.customer_id
        for r in offers.within_limits(
            best, CampaignSpec(id="C", audience="a", channels=("email",), budget=99.0), channels
        ).collect()
    ]


def test_exploring_draws_offers_and_order_at_random_within_budget_capacity_and_a_matched_control(
    spark: SparkSession,
) -> None:
    people = spark.createDataFrame(
        [(f"c{i:03d}", "control" if i % 5 == 0 else "treatment", "s") for i in range(300)],
        "customer_id string, group string, segment_name string",
    )
    options = [("product", "A", "tv", 50.0), ("cross_sell", "B", "tv", 20.0), ("category", None, "books", 5.0)]
    candidates = spark.createDataFrame(
        [(f"c{i:03d}", *o, "why") for i in range(300) for o in options],
        "customer_id string, offer_type string, product_id string, category string, value double, offer_reason string",
    )
    channels = {"email": ChannelConfig(cost=1.0, capacity=1000), "sms": ChannelConfig(cost=2.0, capacity=40)}
    spec = CampaignSpec(id="FIRST", audience="a", channels=("email", "sms"), budget=100.0, targeting="explore")
    drawn = offers.explore_offers(people, candidates, channels, spec).collect()  # 300 rows
    assert len(drawn) == 300 and len({r.customer_id for r in drawn}) == 300  # one (offer, channel) each
    assert all(r.p_convert is None and r.expected_profit is None and 0 < r.priority <= 1 for r in drawn)
    # Every offer on every channel is tried, each about a sixth of the time (50 expected; binomial sd 6.5).
    tried = {(o[0], ch): 0 for o in options for ch in channels}
    for r in drawn:
        tried[(r.offer_type, r.channel)] += 1
    assert min(tried.values()) >= 25 and max(tried.values()) <= 75, tried
    again = offers.explore_offers(people, candidates, channels, spec).collect()
    assert {(r.customer_id, r.offer_type, r.channel, r.priority) for r in again} == {
        (r.customer_id, r.offer_type, r.channel, r.priority) for r in drawn
    }  # the same draw on every re-run
    # Treated by priority while sms has room (40) and the running cost stays within the budget: an oracle in Python.
    treated = offers.within_limits(
        offers.explore_offers(people, candidates, channels, spec).where("group = 'treatment'"), spec, channels
    )
    expected, spent, sms = [], 0.0, 0
    for r in sorted((r for r in drawn if r.group == "treatment"), key=lambda r: (-r.priority, r.customer_id)):
        if r.channel == "sms":
            sms += 1
            if sms > 40:
                continue
        spent += channels[r.channel].cost
        if spent > spec.budget:
            break
        expected.append(r.customer_id)
    assert sorted(r.customer_id for r in treated.collect()) == sorted(expected)
    floor = min(r.priority for r in drawn if r.customer_id in expected)
    best = offers.explore_offers(people, candidates, channels, spec)
    control = campaign_plan.matched_control(best, treated, offers.ranked_by(spec))
    assert {r.customer_id for r in control.collect()} == {
        r.customer_id for r in drawn if r.group == "control" and r.priority >= floor
    }


def test_control_draw_is_stable_and_close_to_the_share(spark: SparkSession) -> None:
    ids = spark.range(20000).select(F.concat(F.lit("C"), F.col("id").cast("string")).alias("customer_id"))
    draws = ids.select("customer_id", offers.control_draw("NBO-1").alias("u"))
    share = draws.where(F.col("u") < 0.2).count() / 20000
    assert share == pytest.approx(0.2, abs=0.01)
    again = ids.select("customer_id", offers.control_draw("NBO-1").alias("u"))
    assert draws.join(again, on=["customer_id", "u"], how="inner").count() == 20000
    other = ids.select("customer_id", offers.control_draw("NBO-2").alias("u"))
    overlap = draws.where(F.col("u") < 0.2).join(other.where(F.col("u") < 0.2), on="customer_id", how="inner").count()
    assert overlap / 20000 == pytest.approx(0.04, abs=0.01)  # independent across campaigns: 0.2 x 0.2


def test_empty_audiences_say_whether_consent_or_suppression_emptied_them(spark: SparkSession) -> None:
    view = spark.createDataFrame([("u1", False), ("u2", False)], "customer_id string, consent boolean")
    assert "no customer has marketing consent" in (audience.nobody_note(view, audience.eligible(view, None)) or "")
    view = spark.createDataFrame([("u1", True), ("u2", False)], "customer_id string, consent boolean")
    blocked = spark.createDataFrame([("u1",)], "customer_id string")
    assert "on the suppression list" in (audience.nobody_note(view, audience.eligible(view, blocked)) or "")
    assert audience.nobody_note(view, audience.eligible(view, None)) is None  # u1 may be contacted


def test_lift_statistics_match_scipy_and_holm_by_hand() -> None:
    uplift, low, high, z, p = evaluation.lift(1000, 150, 1000, 100)
    se = math.sqrt(0.15 * 0.85 / 1000 + 0.10 * 0.90 / 1000)
    assert (uplift, low, high) == pytest.approx((0.05, 0.05 - 1.959964 * se, 0.05 + 1.959964 * se))
    pooled = math.sqrt(0.125 * 0.875 * 2 / 1000)
    assert z == pytest.approx(0.05 / pooled)
    assert p == pytest.approx(2 * norm.sf(0.05 / pooled))
    assert evaluation.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert all(math.isnan(v) for v in evaluation.lift(0, 0, 10, 1))


def test_templates_pick_the_most_specific_and_fill_fields(spark: SparkSession) -> None:
    plan = spark.createDataFrame(
        [("C1", "Savers", "product", "Kettle", "because you viewed X"), ("C2", "Spenders", "category", None, None)],
        "customer_id string, segment_name string, offer_type string, product_name string, offer_reason string",
    )
    templates = {
        "default": "Hi {{customer_id}}",
        "Savers/product": "Hi {{ customer_id }}, {{product_name}}: {{ offer_reason }}",
    }
    got = {
        r.customer_id: r.m for r in plan.select("customer_id", messages.render(plan, templates).alias("m")).collect()
    }
    assert got == {"C1": "Hi C1, Kettle: because you viewed X", "C2": "Hi C2"}
    with pytest.raises(ConfigError, match="unknown field 'email'"):
        messages.normalise({"default": "Hi {{ email }}"})


def test_cart_abandonment_birthday_and_first_purchase(spark: SparkSession) -> None:
    t = dt.datetime(2026, 4, 1, 10, 0)
    as_of = dt.datetime(2026, 4, 2, 12, 0)
    events = spark.createDataFrame(
        [
            ("u1", "A", "add_to_cart", t),
            ("u1", "A", "purchase", t + dt.timedelta(hours=2)),  # bought: no action
            ("u2", "B", "add_to_cart", t),
            ("u2", "B", "purchase", t + dt.timedelta(hours=30)),  # too late: abandoned
            ("u3", "C", "add_to_cart", as_of - dt.timedelta(hours=1)),  # the 24 h are not over
            ("u4", "D", "add_to_cart", t - dt.timedelta(days=20)),  # outside the look-back
        ],
        "customer_id string, product_id string, event_type string, event_ts timestamp",
    )
    rule = TriggerRule(name="cart", kind="cart_abandoned", action="remind", hours=24, days=7)
    got = [(r.customer_id, r.period, r.detail) for r in triggers.cart_abandoned(events, rule, as_of).collect()]
    assert got == [("u2", "2026-04-01", "left B in the cart")]

    people = spark.createDataFrame(
        [("b1", dt.date(1990, 4, 5)), ("b2", dt.date(1990, 3, 30)), ("b3", dt.date(1992, 2, 29)), ("b4", None)],
        "customer_id string, birth_date date",
    )
    soon = triggers.birthday(
        people, TriggerRule(name="bd", kind="birthday", action="voucher", days=7), dt.date(2027, 2, 25)
    )
    assert sorted((r.customer_id, r.period) for r in soon.collect()) == [("b3", "2027")]  # 29 Feb -> 28 Feb 2027
    april = triggers.birthday(
        people, TriggerRule(name="bd", kind="birthday", action="voucher", days=7), dt.date(2026, 4, 2)
    )
    assert [(r.customer_id, r.detail) for r in april.collect()] == [("b1", "birthday on 5 April")]

    lines = spark.createDataFrame(
        [
            ("n1", as_of - dt.timedelta(days=3)),
            ("o1", as_of - dt.timedelta(days=90)),
            ("o1", as_of - dt.timedelta(days=1)),
        ],
        "customer_id string, order_ts timestamp",
    )
    onboard = triggers.first_purchase(
        lines, TriggerRule(name="on", kind="first_purchase", action="onboard", days=14), as_of
    )
    assert [(r.customer_id, r.period) for r in onboard.collect()] == [("n1", "first")]
