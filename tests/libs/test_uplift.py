"""Uplift: the Qini arithmetic exactly, and both estimators against the generator's planted uplift."""

from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs.classify import model as cm
from pmkt.libs.classify.model import LABEL
from pmkt.libs.config import GenerateConfig, UpliftConfig
from pmkt.libs.errors import UserError
from pmkt.libs.synth import facts
from pmkt.libs.synth.world import World
from pmkt.libs.uplift import evaluate, model

TRAITS = ("p_sessions", "p_views", "p_click", "p_cart", "p_buy", "p_mobile", "p_premium")


def test_qini_curve_coefficient_and_uplift_at_k_equal_the_hand_computation(spark: SparkSession) -> None:
    rows = [(0.9, "treatment", 1), (0.8, "treatment", 1), (0.7, "control", 1), (0.6, "control", 0)]
    rows += [(0.1, "treatment", 0), (0.05, "treatment", 0), (0.02, "control", 1), (0.01, "control", 0)]
    scored = spark.createDataFrame(rows, "uplift double, group string, converted int")
    # MLlib's quantile split puts the median value (0.1) in the upper bin: 0.1 and above, highest first.
    assert evaluate.bins(scored, 2, relative_error=0.0) == [evaluate.Bin(3, 2, 2, 1), evaluate.Bin(1, 2, 0, 1)]
    found = [evaluate.Bin(2, 2, 2, 1), evaluate.Bin(2, 2, 0, 1)]
    # Top half: 2 treated conversions against 1 of 2 control: Q = 2 − 1·2/2 = 1. All: Q = 2 − 2·4/4 = 0.
    points = evaluate.curve(found)
    assert points == [(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)]
    # Random targeting runs from (0, 0) to (1, 0): the area between is a triangle of 0.5, per 4 treated.
    assert evaluate.qini_coefficient(points, 4) == pytest.approx(0.125)
    assert evaluate.uplift_at(found, 0.5) == pytest.approx(1.0 - 0.5)
    assert evaluate.uplift_at(found, 1.0) == pytest.approx(0.0)


def _world_contacts(spark: SparkSession) -> tuple[DataFrame, dict[tuple[str, int], float]]:
    """Contacts of the generated world with noisy measurements of each customer's planted behaviour as features:
    the model never sees the segment, only what its behaviour would show."""
    world = World(spark, GenerateConfig(customers=20000, products=40))
    people = world.customers()
    campaigns = facts.campaigns(world)
    noise = {t: F.exp(0.25 * F.randn(seed=i)) for i, t in enumerate(TRAITS)}
    features = people.select("customer_id", "segment", *[(F.col(t) * noise[t]).alias(t) for t in TRAITS])
    contacts = (
        facts.contacts(world, people, campaigns)
        .join(campaigns.select("campaign_id", "offer_category"), on="campaign_id", how="inner")
        .join(features, on="customer_id", how="inner")
        .select(
            "campaign_id",
            "customer_id",
            "segment",
            "group",
            "channel",
            "offer_category",
            *TRAITS,
            F.col("converted").cast("double").alias(LABEL),
        )
    )
    truth = {(r.campaign_id, r.segment): r.uplift for r in facts.uplift_truth(world, campaigns).collect()}  # 24
    return contacts, truth


def test_uplift_targeting_finds_the_planted_persuadables_and_beats_response_targeting(spark: SparkSession) -> None:
    contacts, truth = _world_contacts(spark)
    contacts = contacts.cache()
    held_out = sorted({c for c, _ in truth})[-1]  # the last campaign, as the job holds it out
    train, test = contacts.where(F.col("campaign_id") != held_out), contacts.where(F.col("campaign_id") == held_out)
    spec = cm.Spec(TRAITS, ("channel", "offer_category"))
    planted = F.create_map(*[F.lit(x) for (c, s), u in truth.items() if c == held_out for x in (s, u)])
    budget = test.count() // 4  # the same number of contacts for every targeting

    def incremental(ranked: DataFrame, score: str) -> float:
        """Expected extra conversions of the top `budget` contacts by `score`, from the planted uplift."""
        top = ranked.orderBy(F.desc(score), "customer_id").limit(budget)
        return top.agg(F.sum(planted[F.col("segment")])).first()[0]

    response = cm.fit_logistic(train.where(F.col("group") == "treatment").withColumn(cm.WEIGHT, F.lit(1.0)), spec)
    by_response = incremental(response.transform(test).withColumn("p", cm.probability(response.transform(test))), "p")
    positive = {s for (c, s), u in truth.items() if c == held_out and u > 0}
    for method in model.METHODS:
        scored = model.score(model.fit(train, spec, UpliftConfig(), method), method, test).cache()
        means = {r.segment: r.mean for r in scored.groupBy("segment").agg(F.avg("uplift").alias("mean")).collect()}
        assert min(means[s] for s in positive) > max(means[s] for s in means.keys() - positive), (method, means)
        by_uplift = incremental(scored, "uplift")
        assert by_uplift > 2 * by_response, (method, by_uplift, by_response)
        scored.unpersist()
    contacts.unpersist()


def test_contacts_without_a_control_group_are_a_user_error(spark: SparkSession) -> None:
    rows = spark.createDataFrame(
        [("treatment", 1.0, 1.0), ("treatment", 0.0, 2.0)], f"group string, {LABEL} double, p_buy double"
    )
    with pytest.raises(UserError, match="both treated and control contacts"):
        model.fit(rows, cm.Spec(("p_buy",), ()), UpliftConfig(), "t_learner")
