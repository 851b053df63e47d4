"""The campaign job on generated data, planted uplift recovery, and the feedback loop into features."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import campaign
from pmkt.libs import tables, tracking
from pmkt.libs.c360 import snapshot
from pmkt.libs.campaign import evaluation, offers
from pmkt.libs.config import FeaturesConfig, GenerateConfig, load_config
from pmkt.libs.lake import Lake
from pmkt.libs.synth import facts
from pmkt.libs.synth.world import World
from tests.conftest import GeneratedLake, own_copy


def test_consent_suppression_caps_control_and_idempotent_actions(
    spark: SparkSession, modelled: GeneratedLake, tmp_path: Path
) -> None:
    base = own_copy(modelled, tmp_path).config
    lake = Lake(spark, base.lake)
    view = lake.read(tables.CUSTOMER_PROFILES)
    # Suppress five consenting repeat buyers who would otherwise be in the audience.
    blocked = [
        r.customer_id
        for r in view.where(F.col("consent") & (F.col("frequency") >= 2)).orderBy("customer_id").limit(5).collect()
    ]
    (tmp_path / "suppression.csv").write_text("customer_id\n" + "\n".join(blocked) + "\n")
    config = load_config(
        Path("conf/local.yaml"),
        [
            f"lake.root={base.lake.root}",
            f"campaign.suppression_path={tmp_path / 'suppression.csv'}",
            "campaign.max_contacts=1",
            "campaign.channels.email.capacity=7",
            "campaign.campaigns=[{id: A, audience: grow, channels: [push], budget: 0.205, control_share: 0.1},"
            " {id: B, audience: grow, channels: [email], budget: 1000.0, control_share: 0.1},"
            " {id: C, audience: grow, channels: [push], budget: 1000.0, control_share: 0.5}]",
        ],
    )
    campaign.run(spark, config)
    members = lake.read(tables.AUDIENCES)
    plan = lake.read(tables.CAMPAIGN_PLAN)
    actions = lake.read(tables.ACTIONS)
    customers = lake.read(tables.SILVER["customers"])
    no_consent = customers.where(~F.coalesce(F.col("consent"), F.lit(False))).select("customer_id")
    for df in (members, plan, actions):
        assert df.join(no_consent, on="customer_id", how="inner").count() == 0
        assert df.where(F.col("customer_id").isin(blocked)).count() == 0
    grow = members.where(F.col("audience") == "grow")
    assert grow.count() > 100  # the audience is real, so the checks above could have failed
    assert grow.join(view.where(F.col("frequency") < 2), on="customer_id", how="inner").count() == 0

    def treated(campaign_id: str):
        return plan.where((F.col("campaign_id") == campaign_id) & (F.col("group") == "treatment"))

    # Push costs 0.01: a budget of 0.205 buys exactly 20 contacts; email capacity 7 allows exactly 7.
    assert (treated("A").count(), round(treated("A").agg(F.sum("cost")).first()[0], 6)) == (20, 0.2)
    assert treated("B").count() == 7
    assert plan.where((F.col("group") == "control") & (F.col("cost") != 0)).count() == 0
    # Frequency cap of one: nobody is treated twice across A, B and C.
    everyone = treated("A").unionByName(treated("B")).unionByName(treated("C"))
    assert everyone.groupBy("customer_id").count().where(F.col("count") > 1).count() == 0
    c = plan.where(F.col("campaign_id") == "C")
    share = c.where(F.col("group") == "control").count() / c.count()
    assert c.count() > 100 and share == pytest.approx(0.5, abs=0.1)
    assert everyone.where(F.col("message").isNull() | ~F.col("message").startswith("Hello C")).count() == 0

    first_controls = {r.customer_id for r in c.where(F.col("group") == "control").collect()}
    n_actions = actions.count()
    assert n_actions > 0 and {r.rule for r in actions.select("rule").distinct().collect()} >= {
        "cart-reminder",
        "birthday",
    }
    campaign.run(spark, config)
    again = lake.read(tables.ACTIONS)
    assert again.count() == n_actions
    assert again.groupBy("rule", "customer_id", "period").count().where(F.col("count") > 1).count() == 0
    plan2 = lake.read(tables.CAMPAIGN_PLAN).where(F.col("campaign_id") == "C")
    assert {r.customer_id for r in plan2.where(F.col("group") == "control").collect()} == first_controls


def test_a_campaign_without_its_model_is_left_out_and_the_rest_goes_ahead(
    spark: SparkSession, modelled: GeneratedLake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow import MlflowClient

    base = own_copy(modelled, tmp_path).config
    lake = Lake(spark, base.lake)
    plans = (
        "campaign.campaigns=[{id: A, audience: grow, channels: [email], budget: 5.0, control_share: 0.1},"
        " {id: U, audience: grow, channels: [email], budget: 5.0, control_share: 0.1, targeting: uplift},"
        " {id: E, audience: grow, channels: [email], budget: 1.02, control_share: 0.3, targeting: explore}]"
    )
    # No response model (a shop without campaign history): only the exploring campaign E is planned, and the
    # triggers and the evaluation run.
    config = load_config(Path("conf/local.yaml"), [f"lake.root={base.lake.root}", plans, "models.alias=none-such"])
    with caplog.at_level(logging.WARNING, logger="pmkt"):
        campaign.run(spark, config)
    assert "no campaign planned (A, U): no pmkt_response_converted model with alias 'none-such'" in caplog.text
    explored = lake.read(tables.CAMPAIGN_PLAN).collect()  # one campaign's rows on the test world
    assert {r.campaign_id for r in explored} == {"E"}
    treated = [r for r in explored if r.group == "treatment"]
    assert len(treated) == 20  # the budget binds: 20 emails at 0.05 (21 would cost 1.05)
    assert all(r.p_convert is None and r.expected_profit is None and r.message for r in treated)
    control = {r.customer_id for r in explored if r.group == "control"}
    members = lake.read_snapshot(tables.AUDIENCES, explored[0].snapshot_date)
    held = members.where(F.col("audience") == "grow").select("customer_id")
    drawn = {r.customer_id for r in held.where(offers.control_draw("E") < 0.3).collect()}  # test world: small
    assert control and control <= drawn  # the members held out by E's own draw, as in any campaign
    rules = {r.rule for r in lake.read(tables.ACTIONS).select("rule").distinct().collect()}  # one row per rule
    assert rules >= {"cart-reminder", "birthday", "churn-alert"}
    evaluated = lake.read(tables.CAMPAIGN_METRICS).where(F.col("segment") == evaluation.ALL)
    assert evaluated.count() == lake.read(tables.SILVER["campaigns"]).count()  # every past campaign, once
    # A response model but no uplift model: A is planned, U (targeted by uplift) is left out.
    config = load_config(Path("conf/local.yaml"), [f"lake.root={base.lake.root}", plans])
    tracking.configure(config)
    MlflowClient().delete_registered_model_alias(tracking.registered_name(config, "uplift"), config.models.alias)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pmkt"):
        campaign.run(spark, config)
    assert "campaign U not planned: it targets by uplift: run `pmkt uplift` first" in caplog.text
    plan = lake.read(tables.CAMPAIGN_PLAN)
    planned = {r.campaign_id for r in plan.select("campaign_id").distinct().collect()}  # one row per campaign
    assert planned == {"A", "E"}


def test_planted_uplift_is_significant_exactly_where_planted(spark: SparkSession) -> None:
    world = World(spark, GenerateConfig(customers=40000, products=40))
    people = world.customers()
    campaigns = facts.campaigns(world)
    contacts = facts.contacts(world, people, campaigns)
    segments = people.select("customer_id", F.col("segment_name"))
    metrics = evaluation.metrics(spark, evaluation.cells(contacts, campaigns, segments), alpha=0.05)
    truth = {(r.campaign_id, r.segment_name): r.uplift for r in facts.uplift_truth(world, campaigns).collect()}
    found = {(r.campaign_id, r.segment): r for r in metrics.where(F.col("segment") != "all").collect()}
    assert found.keys() == truth.keys()
    for key, planted in truth.items():
        cell = found[key]
        assert cell.significant == (planted > 0), (
            f"{key}: planted {planted}, measured {cell.uplift:.3f} (p_holm {cell.p_holm:.3g})"
        )
        assert cell.uplift_ci_low <= planted <= cell.uplift_ci_high or planted == 0


def test_a_campaign_response_changes_the_next_snapshot(spark: SparkSession) -> None:
    lines = spark.createDataFrame(
        [("O1", "1", "c1", dt.datetime(2025, 3, 1), "P1", 1, 10.0, 10.0)],
        "order_id string, line_id string, customer_id string, order_ts timestamp, product_id string, quantity int, "
        "unit_price double, amount double",
    )
    contact = (
        "contact_id string, campaign_id string, customer_id string, channel string, sent_ts timestamp, group "
        "string, opened boolean, clicked boolean, converted boolean, cost double, revenue double"
    )
    before = spark.createDataFrame(
        [("K1", "CMP1", "c1", "email", dt.datetime(2025, 3, 10), "treatment", True, False, False, 0.05, 0.0)], contact
    )
    response_row = spark.createDataFrame(
        [("K2", "CMP2", "c1", "email", dt.datetime(2025, 4, 10), "treatment", True, True, True, 0.05, 30.0)], contact
    )
    cfg = FeaturesConfig()
    first = snapshot.build(snapshot.Inputs(lines=lines, contacts=before), dt.date(2025, 5, 1), cfg).first()
    second = snapshot.build(
        snapshot.Inputs(lines=lines, contacts=before.unionByName(response_row)), dt.date(2025, 5, 1), cfg
    ).first()
    assert (first.campaign_contacts, first.campaign_conversion_rate) == (1, 0.0)
    assert (second.campaign_contacts, second.campaign_conversion_rate, second.campaign_open_rate) == (2, 0.5, 1.0)
