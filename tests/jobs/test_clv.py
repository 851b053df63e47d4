"""`pmkt clv` end to end on CDNOW_sample: the published fit from silver order lines, scores that follow from it,
and the hold-out calibration."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import clv
from pmkt.libs import tables
from pmkt.libs.campaign import audience
from pmkt.libs.clv import models
from pmkt.libs.lake import Lake
from pmkt.libs.report import render, sections
from tests.conftest import GeneratedLake, seed, test_config
from tests.libs.test_clv import BGNBD, cdnow_sample


def _metrics(lake: Lake) -> dict[tuple[str, str], float]:
    rows = lake.read(tables.MODEL_METRICS).where(F.col("model") == "clv").collect()  # one run's few dozen rows
    return {(r.variant, r.metric): r.value for r in rows}


def test_clv_on_cdnow_fits_the_published_parameters_and_scores_every_customer(
    spark: SparkSession, tmp_path: Path, lifetimes_datasets: Path
) -> None:
    # Calibration through 1997-09-30 (the published summaries), hold-out the 39 weeks to 1998-06-30.
    config = test_config(tmp_path, **{"clv.snapshot": "1998-07-01", "clv.holdout_days": 273})
    lake = Lake(spark, config.lake)
    seed(lake, cdnow_sample(spark, lifetimes_datasets), tables.SILVER["transactions"])
    clv.run(spark, config)

    metrics = _metrics(lake)
    for name, expected in BGNBD.items():  # fitted from silver order lines by the job
        assert metrics[("holdout", f"bgnbd_{name}")] == pytest.approx(expected, rel=0.01), name
    # The hold-out: 1,653 purchase days forecast for the second 39 weeks against 1,882 (measured: 12% under).
    predicted, actual = metrics[("holdout", "predicted_purchases")], metrics[("holdout", "actual_purchases")]
    assert metrics[("holdout", "customers")] == 2357 and actual == 1882
    assert -0.15 < (predicted - actual) / actual < -0.05, (predicted, actual)
    buckets = lake.read(tables.CLV_CALIBRATION).toPandas().set_index("frequency_bucket")  # eight rows
    assert list(buckets.index.sort_values()) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert buckets["customers"].sum() == 2357 and buckets.loc["0", "customers"] == 1411
    assert np.all(np.diff(buckets.loc[["0", "1", "2", "3", "4", "5", "6", "7+"], "predicted"]) > 0)

    scored = lake.read(tables.CLV).toPandas()  # the sample's 2,357 customers
    assert len(scored) == 2357 and set(scored["snapshot_date"]) == {dt.date(1998, 7, 1)}
    fit = models.BgNbd(*(metrics[("bgnbd", k)] for k in ("r", "alpha", "a", "b")))
    value = models.GammaGamma(*(metrics[("gamma_gamma", k)] for k in ("p", "q", "v")))
    x, t_x, big_t = (scored[c].to_numpy(dtype=float) for c in ("frequency", "recency", "age"))
    assert np.allclose(scored["p_alive"], models.p_alive(fit, x, t_x, big_t))
    assert np.allclose(scored["expected_purchases"], models.expected_purchases(fit, 365 / 7, x, t_x, big_t))
    order_value = models.expected_order_value(value, x, scored["monetary"].to_numpy())
    assert np.allclose(scored["expected_order_value"], order_value)
    per_step = 1.1 ** (30 / 365) - 1
    assert np.allclose(
        scored["clv"], models.discounted_value(fit, order_value, x, t_x, big_t, 365 / 7, 30 / 7, per_step)
    )
    # Recency and age follow the snapshot: a customer last seen long ago is less likely alive than a regular.
    assert (scored.loc[scored["frequency"] == 0, "p_alive"] == 1.0).all()
    assert scored["clv"].min() >= 0 and scored.loc[scored["frequency"] >= 7, "clv"].mean() > scored["clv"].mean()


def test_purchases_without_amounts_get_the_published_bgnbd_fit_and_no_clv(
    spark: SparkSession, tmp_path: Path, lifetimes_datasets: Path
) -> None:
    """A count-only export (a groceries log: who bought on which day): BG/NBD needs no amounts."""
    config = test_config(tmp_path, **{"clv.snapshot": "1998-07-01", "clv.holdout_days": 273})
    lake = Lake(spark, config.lake)
    lines = cdnow_sample(spark, lifetimes_datasets).withColumn("amount", F.lit(None).cast("double"))
    seed(lake, lines, tables.SILVER["transactions"])
    clv.run(spark, config)

    metrics = _metrics(lake)
    for name, expected in BGNBD.items():
        assert metrics[("holdout", f"bgnbd_{name}")] == pytest.approx(expected, rel=0.01), name
    assert not any(variant == "gamma_gamma" for variant, _ in metrics) and ("clv", "mean_clv") not in metrics
    scored = lake.read(tables.CLV).toPandas()  # the sample's 2,357 customers
    assert len(scored) == 2357 and scored["clv"].isna().all() and scored["expected_order_value"].isna().all()
    fit = models.BgNbd(*(metrics[("bgnbd", k)] for k in ("r", "alpha", "a", "b")))
    x, t_x, big_t = (scored[c].to_numpy(dtype=float) for c in ("frequency", "recency", "age"))
    assert np.allclose(scored["p_alive"], models.p_alive(fit, x, t_x, big_t))
    buckets, deciles, by = sections.clv(lake) or ([], [], "")
    assert by == "expected_purchases" and sum(d["customers"] for d in deciles) == 2357 and len(buckets) == 8
    shown = render.clv((buckets, deciles, by), sections.model_metrics(lake, "clv"))
    assert "Customers by expected purchases decile" in shown and "mean_clv" not in shown


def test_audiences_see_clv_and_p_alive_beside_the_features(spark: SparkSession, modelled: GeneratedLake) -> None:
    lake = Lake(spark, modelled.config.lake)
    day = lake.latest_snapshot(tables.CUSTOMER_FEATURES)
    view = audience.customer_view(lake, day).select("customer_id", "clv", "p_alive")
    stored = lake.read_snapshot(tables.CLV, day).select("customer_id", "clv", "p_alive")
    joined = view.join(stored.withColumnsRenamed({"clv": "c", "p_alive": "p"}), on="customer_id", how="full")
    assert joined.where(F.col("c").isNotNull()).count() == stored.count() > 100
    assert joined.where((F.col("clv") != F.col("c")) | (F.col("p_alive") != F.col("p"))).count() == 0
    # Customers without a purchase before the snapshot have no CLV row, and a null in the view.
    assert joined.where(F.col("c").isNull() & F.col("clv").isNotNull()).count() == 0
