"""CTR: on the generator's planted click signal, a factorization machine beats logistic regression."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs.config import CtrConfig, GenerateConfig
from pmkt.libs.ctr import model
from pmkt.libs.synth import facts
from pmkt.libs.synth.world import World


def test_fm_beats_logistic_regression_out_of_time_on_the_planted_clicks(spark: SparkSession) -> None:
    """Features a pipeline would see: the customer's top category (one of their two tastes), how mobile they
    are, the offer's category, the channel and the send hour. Trained on the first three campaigns, tested on
    the last."""
    world = World(spark, GenerateConfig(customers=20000, products=40))
    people = world.customers()
    campaigns = facts.campaigns(world)
    first, _ = facts.taste_categories()
    seen = people.select(
        "cid",
        "customer_id",
        first.alias("top_category"),
        (F.col("p_mobile") + 0.1 * F.randn(seed=3)).alias("mobile_share"),
    ).drop("cid")
    cfg = CtrConfig()
    contacts = (
        facts.contacts(world, people, campaigns)
        .where(F.col("group") == "treatment")
        .join(campaigns.select("campaign_id", "offer_category"), on="campaign_id", how="inner")
        .join(seen, on="customer_id", how="inner")
        .withColumn(model.LABEL, F.col("clicked").cast("double"))
    )
    rows = model.features(contacts, F.hour("sent_ts"), cfg).cache()
    last = sorted(r.campaign_id for r in campaigns.select("campaign_id").collect())[-1]  # four campaigns
    train, test = rows.where(F.col("campaign_id") != last), rows.where(F.col("campaign_id") == last)
    found = {m: model.evaluate(model.score(model.estimator(m, cfg).fit(train), test)) for m in model.METHODS}
    assert found["fm"]["roc_auc"] > found["logreg"]["roc_auc"] + 0.03, found
    assert found["fm"]["log_loss"] < found["logreg"]["log_loss"], found
    rows.unpersist()
