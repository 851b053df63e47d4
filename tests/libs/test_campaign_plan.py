"""Campaign planning on tiny DataFrames: the frequency cap's window, groups, the matched control, the plan's rows,
and which input each trigger reads."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from pmkt.libs.campaign import plan, triggers
from pmkt.libs.config import CampaignSpec, TriggerRule

DAY = dt.date(2025, 6, 30)
SENT = "customer_id string, group string, sent_ts timestamp"
PLANNED = "customer_id string, group string, campaign_id string, snapshot_date date"


def _ids(df) -> set[str]:
    return {r.customer_id for r in df.collect()}


def test_recent_contacts_are_treatments_in_the_window_from_history_and_other_plans(spark: SparkSession) -> None:
    t = dt.datetime
    sent = spark.createDataFrame(
        [
            ("C1", "treatment", t(2025, 6, 20)),
            ("C2", "control", t(2025, 6, 20)),  # a control was not contacted
            ("C3", None, t(2025, 6, 29, 23)),  # no group: a plain send, i.e. treatment
            ("C4", "treatment", t(2025, 5, 30)),  # before the 30-day window
            ("C5", "treatment", t(2025, 6, 30, 8)),  # on the planning day itself: not before it
        ],
        SENT,
    )
    planned = spark.createDataFrame(
        [
            ("C6", "treatment", "OTHER", dt.date(2025, 6, 15)),
            ("C7", "treatment", "THIS", dt.date(2025, 6, 15)),  # this campaign's own earlier plan is replaced
            ("C8", "control", "OTHER", dt.date(2025, 6, 15)),
            ("C9", "treatment", "OTHER", dt.date(2025, 5, 31)),  # planned on the window's first day: outside
        ],
        PLANNED,
    )
    recent = plan.recent_contacts(sent, planned, "THIS", DAY, 30)
    assert recent is not None and _ids(recent) == {"C1", "C3", "C6"}
    assert plan.recent_contacts(None, None, "THIS", DAY, 30) is None


def test_in_reach_caps_contacts_and_draws_a_stable_control_share(spark: SparkSession) -> None:
    ids = [f"C{i:03d}" for i in range(400)]
    members = spark.createDataFrame(
        [(c, "grow") for c in ids] + [("X1", "other")], "customer_id string, audience string"
    )
    view = spark.createDataFrame([(c, "s") for c in [*ids, "X1"]], "customer_id string, segment_name string")
    recent = spark.createDataFrame([("C000",), ("C001",), ("C001",)], "customer_id string")
    spec = CampaignSpec(id="A", audience="grow", channels=("email",), budget=10.0, control_share=0.25)
    groups = {r.customer_id: r.group for r in plan.in_reach(members, view, spec, recent, 2).collect()}
    assert "X1" not in groups and "C001" not in groups and "C000" in groups  # C001 already had two contacts
    assert len(groups) == 399 and 0.18 < sum(g == "control" for g in groups.values()) / 399 < 0.32
    again = {r.customer_id: r.group for r in plan.in_reach(members, view, spec, None, 2).collect()}
    assert {c: g for c, g in again.items() if c in groups} == groups  # the same draw on every run
    other = CampaignSpec(id="B", audience="grow", channels=("email",), budget=10.0, control_share=0.25)
    drawn = {r.customer_id: r.group for r in plan.in_reach(members, view, other, None, 2).collect()}
    assert drawn != again  # each campaign draws its own control group


def test_the_matched_control_clears_the_lowest_treated_profit(spark: SparkSession) -> None:
    best = spark.createDataFrame(
        [("T1", "treatment", 4.0), ("T2", "treatment", 9.0), ("K1", "control", 1.0), ("K2", "control", 4.0)]
        + [("K3", "control", 10.0)],
        "customer_id string, group string, expected_profit double",
    )
    treated = best.where("group = 'treatment'")
    assert _ids(plan.matched_control(best, treated)) == {"K2", "K3"}
    assert _ids(plan.matched_control(best, treated.where("false"))) == set()  # nobody treated: no control


def test_plan_rows_cost_and_message_only_for_the_treated(spark: SparkSession) -> None:
    schema = (
        "customer_id string, group string, segment_name string, channel string, offer_type string, "
        "product_id string, category string, offer_reason string, p_convert double, uplift double, p_click double, "
        "value double, contact_cost double, expected_profit double"
    )
    treated = spark.createDataFrame(
        [("C1", "treatment", "Loyal", "email", "product", "P1", "shoes", "because", 0.2, 0.05, 0.1, 50.0, 0.5, 9.5)],
        schema,
    )
    control = spark.createDataFrame(
        [("C2", "control", "Loyal", "email", "product", "P1", "shoes", "because", 0.2, 0.05, 0.1, 50.0, 0.5, 9.5)],
        schema,
    )
    products = spark.createDataFrame([("P1", "Red shoe")], "product_id string, product_name string")
    spec = CampaignSpec(id="A", audience="grow", channels=("email",), budget=10.0, name="Spring")
    rows = plan.rows(treated, control, products, spec, DAY, {"default": "Hi {{customer_id}}: {{product_name}}"})
    assert tuple(rows.columns) == plan.PLAN
    got = {r.customer_id: (r.campaign_name, r.snapshot_date, r.product_name, r.cost, r.message) for r in rows.collect()}
    assert got == {
        "C1": ("Spring", DAY, "Red shoe", 0.5, "Hi C1: Red shoe"),
        "C2": ("Spring", DAY, "Red shoe", 0.0, None),
    }


def test_each_trigger_reads_its_own_input_and_scores_after_the_day_are_not_seen(spark: SparkSession) -> None:
    rule = TriggerRule(name="risk", kind="churn_risk_high", action="call")
    scores = spark.createDataFrame(
        [
            ("C1", dt.date(2025, 6, 1), "low", 0.1),
            ("C1", dt.date(2025, 6, 30), "high", 0.9),  # rose to high on the day
            ("C2", dt.date(2025, 6, 30), "low", 0.2),
            ("C2", dt.date(2025, 7, 15), "high", 0.95),  # after the day: the future
        ],
        "customer_id string, snapshot_date date, risk_band string, probability double",
    )
    actions = triggers.detect(rule, {"churn_scores": scores, "events": None}, DAY)
    assert actions is not None
    assert {(r.customer_id, r.period) for r in actions.collect()} == {("C1", "2025-06-30")}
    assert triggers.detect(rule, {"churn_scores": None}, DAY) is None
    cart = TriggerRule(name="cart", kind="cart_abandoned", action="remind")
    assert triggers.detect(cart, {"churn_scores": scores, "events": None}, DAY) is None
