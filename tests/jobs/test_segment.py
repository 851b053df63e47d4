"""Segmentation against the planted segments, and the saved model's round trip."""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from sklearn.metrics import adjusted_rand_score

from pmkt.jobs import segment
from pmkt.libs import models, tables
from pmkt.libs.c360 import segmentation
from pmkt.libs.config import Config, load_config
from pmkt.libs.errors import MissingInput
from pmkt.libs.lake import Lake
from tests.conftest import GeneratedLake, own_copy, seed

pytestmark = pytest.mark.slow
ARI_SAMPLE = 5000  # the ARI is computed on a bounded sample collected to the driver
DAY = dt.date(2025, 6, 1)


def test_chosen_k_is_the_planted_k_and_segments_are_recovered(spark: SparkSession, c360: GeneratedLake) -> None:
    lake = Lake(spark, c360.config.lake)
    curve = lake.read(tables.SEGMENT_K_SELECTION)
    chosen = curve.where(F.col("chosen")).collect()
    assert [r.k for r in chosen] == [c360.config.generate.segments]
    assert curve.count() == c360.config.segment.k_max - c360.config.segment.k_min + 1
    pairs = (
        lake.read(tables.SEGMENTS)
        .where(F.col("segment_id") >= 0)
        .join(lake.read(tables.TRUTH_SEGMENTS), on="customer_id", how="inner")
        .select("segment_id", "segment")
        .limit(ARI_SAMPLE)
        .collect()
    )
    assert len(pairs) > 500
    ari = adjusted_rand_score([r.segment for r in pairs], [r.segment_id for r in pairs])
    assert ari >= 0.9, ari


def test_segments_outliers_and_profiles_are_consistent(spark: SparkSession, c360: GeneratedLake) -> None:
    lake = Lake(spark, c360.config.lake)
    seg = lake.read(tables.SEGMENTS)
    n = seg.count()
    same_snapshot = lake.read(tables.CUSTOMER_FEATURES).join(
        seg.select("snapshot_date").distinct(), on="snapshot_date", how="inner"
    )
    assert n == same_snapshot.count()
    idle = seg.where(F.col("segment_id") == segmentation.NO_ACTIVITY_ID).join(
        same_snapshot, on=["customer_id", "snapshot_date"], how="inner"
    )
    assert idle.where(F.col("events") > 0).count() == 0
    outliers = seg.where(F.col("is_outlier")).count()
    assert 0 < outliers <= 0.03 * n
    profiles = lake.read(tables.SEGMENT_PROFILES).collect()
    assert sum(p.size for p in profiles) == n
    assert len({p.segment_name for p in profiles}) == len(profiles)
    assert all(set(p.feature_means) >= {"monetary", "frequency"} for p in profiles if p.segment_id >= 0)
    loyal = max((p for p in profiles if p.segment_id >= 0), key=lambda p: p.feature_means["monetary"])
    assert loyal.segment_name.startswith("High-value")


def test_saved_model_round_trip_and_assign_mode(spark: SparkSession, c360: GeneratedLake, tmp_path: Path) -> None:
    lake = Lake(spark, c360.config.lake)
    fitted = lake.read(tables.SEGMENTS).select("customer_id", "segment_id", "segment_name", "distance").cache()
    fitted.count()
    model, meta, version = models.load(c360.config, segment.MODEL)
    assert meta["k"] == c360.config.generate.segments and version >= 1
    own = own_copy(c360, tmp_path).config
    segment.run(spark, load_config(None, [f"lake.root={own.lake.root}", "segment.mode=assign"]))
    assigned = (
        Lake(spark, own.lake).read(tables.SEGMENTS).select("customer_id", "segment_id", "segment_name", "distance")
    )
    assert_df_equality(assigned, fitted, ignore_row_order=True, ignore_nullable=True)
    registered = [v for v in models.versions(c360.config) if v.name == "pmkt_segment"]
    assert registered[-1].version == version and registered[-1].aliases == ("champion",)
    fitted.unpersist()


def _purchases_only(spark: SparkSession, tmp_path: Path, overrides: Sequence[str] = ()) -> tuple[Lake, Config, dict]:
    """A feature snapshot of a shop without a clickstream: three planted purchase patterns, behaviour all null."""
    config = load_config(None, [f"lake.root={tmp_path / 'lake'}", "segment.k_max=5", *overrides])
    rng = random.Random(5)
    patterns = {  # recency days, orders, order value
        "loyal": (8, 24, 90.0),
        "lapsed": (420, 1, 25.0),
        "big tickets": (60, 4, 400.0),
    }
    rows, truth = [], {}
    for i in range(600):
        name = list(patterns)[i % 3]
        recency, orders, value = patterns[name]
        aov = value * rng.uniform(0.85, 1.15)
        n = max(1, round(orders * rng.uniform(0.8, 1.2)))
        rows.append((DAY, f"P{i:03d}", round(recency * rng.uniform(0.8, 1.2)), n, n * aov, aov))
        truth[f"P{i:03d}"] = name
    behaviour = config.segment.features
    frame = spark.createDataFrame(
        rows,
        "snapshot_date date, customer_id string, recency_days int, frequency int, monetary double, "
        "avg_order_value double",
    ).select("*", *[F.lit(None).cast("double").alias(f) for f in behaviour])
    lake = Lake(spark, config.lake)
    seed(lake, frame, tables.CUSTOMER_FEATURES)
    return lake, config, truth


def test_an_export_without_a_clickstream_is_segmented_on_the_fallback_features(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lake, config, truth = _purchases_only(spark, tmp_path)
    with caplog.at_level(logging.INFO, logger="pmkt"):
        segment.run(spark, config)
    assert (
        "segment.features with data: none; segmenting on segment.fallback_features with data instead: "
        "recency_days, frequency, monetary, avg_order_value" in caplog.text
    )
    [chosen] = lake.read(tables.SEGMENT_K_SELECTION).where(F.col("chosen")).collect()  # one row
    assert chosen.k == 3
    pairs = lake.read(tables.SEGMENTS).select("customer_id", "segment_id").collect()  # 600 rows
    assert len(pairs) == 600
    assert adjusted_rand_score([truth[r.customer_id] for r in pairs], [r.segment_id for r in pairs]) == 1.0


def test_without_the_fallback_too_few_features_is_missing_input(spark: SparkSession, tmp_path: Path) -> None:
    _, config, _ = _purchases_only(spark, tmp_path, ["segment.fallback_features=[]"])
    with pytest.raises(MissingInput, match="at least two of segment.features"):
        segment.run(spark, config)
