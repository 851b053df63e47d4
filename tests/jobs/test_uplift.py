"""`pmkt uplift`, `pmkt ctr` and `targeting: uplift` on the modelled lake: the stored curves, the chosen models,
and a plan ranked by expected incremental profit with every score recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import campaign
from pmkt.libs import tables
from pmkt.libs.config import load_config
from pmkt.libs.errors import ConfigError
from pmkt.libs.lake import Lake
from pmkt.libs.metrics import latest_metrics
from tests.conftest import ROOT, GeneratedLake, own_copy


def test_both_methods_are_evaluated_and_the_better_one_is_saved(spark: SparkSession, modelled: GeneratedLake) -> None:
    lake = Lake(spark, modelled.config.lake)
    curves = lake.read(tables.UPLIFT_EVALUATION).orderBy("variant", "point").collect()  # two curves of a few points
    for method in ("t_learner", "class_transformation"):
        points = [r for r in curves if r.variant == method]
        assert (points[0].point, points[0].fraction, points[0].qini) == (0, 0.0, 0.0)
        assert points[-1].fraction == pytest.approx(1.0) and points[-1].random == pytest.approx(points[-1].qini)
        assert [p.fraction for p in points] == sorted(p.fraction for p in points)
    metrics = {(r.variant, r.metric): r.value for r in latest_metrics(lake, "uplift").collect()}  # a dozen rows
    chosen = [v for (v, m) in metrics if m == "chosen"]
    assert chosen == [max(("t_learner", "class_transformation"), key=lambda m: metrics[(m, "qini")])]


def test_uplift_targeting_ranks_by_incremental_profit_and_every_plan_records_both_scores(
    spark: SparkSession, modelled: GeneratedLake, tmp_path: Path
) -> None:
    config = own_copy(modelled, tmp_path).config
    campaign.run(spark, config)
    plan = Lake(spark, config.lake).read(tables.CAMPAIGN_PLAN)
    persuade = plan.where(F.col("campaign_id") == "NBO-PERSUADE")
    treated = persuade.where(F.col("group") == "treatment").agg(F.count(F.lit(1)), F.sum("cost")).first()
    # Email at 0.05 a contact within a budget of 60: at most 1,200 contacts, each costing exactly that.
    assert 0 < treated[0] <= 1200 and treated[1] == pytest.approx(0.05 * treated[0])
    scores = ("p_convert", "uplift", "p_click")  # every score on every campaign's rows, whatever it targets by
    assert plan.where(F.greatest(*[F.col(c).isNull() for c in scores])).count() == 0
    assert plan.where((F.col("p_click") <= 0) | (F.col("p_click") >= 1)).count() == 0
    incremental = F.col("uplift") * F.col("value") - F.col("cost")
    assert (
        persuade.where((F.col("group") == "treatment") & (F.abs(F.col("expected_profit") - incremental) > 1e-9)).count()
        == 0
    )
    by_response = F.col("p_convert") * F.col("value") - F.col("cost")
    grow = plan.where((F.col("campaign_id") == "NBO-GROW") & (F.col("group") == "treatment"))
    assert grow.where(F.abs(F.col("expected_profit") - by_response) > 1e-9).count() == 0


def test_the_ctr_model_with_the_lower_log_loss_is_saved(spark: SparkSession, modelled: GeneratedLake) -> None:
    metrics = {
        (r.variant, r.metric): r.value for r in latest_metrics(Lake(spark, modelled.config.lake), "ctr").collect()
    }
    assert {v for v, _ in metrics} == {"logreg", "fm"}
    assert metrics[("logreg", "contacts")] == metrics[("fm", "contacts")] > 0  # the same held-out contacts
    chosen = [v for (v, m) in metrics if m == "chosen"]
    assert chosen == [min(("logreg", "fm"), key=lambda m: metrics[(m, "log_loss")])]


def test_an_unknown_targeting_is_a_config_error_naming_the_campaign() -> None:
    bad = "campaign.campaigns=[{id: X, audience: grow, channels: [email], budget: 1.0, targeting: clicks}]"
    with pytest.raises(ConfigError, match="campaign 'X': targeting must be one of response, uplift"):
        load_config(ROOT / "conf" / "local.yaml", [bad])
