"""The k search on three planted blobs, and the final model it hands over."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession

from pmkt.libs.c360 import segment_profiles, segmentation
from pmkt.libs.config import SegmentConfig
from pmkt.libs.errors import ConfigError

FEATURES = ["x", "y"]
CENTRES = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]


def _blobs(spark: SparkSession) -> DataFrame:
    """20 customers around each of three centres, on a fixed grid of offsets (no randomness)."""
    offsets = [(dx, dy) for dx in (-0.4, -0.2, 0.2, 0.4) for dy in (-0.3, -0.1, 0.0, 0.1, 0.3)]
    rows = [
        (f"c{i}-{j}", dt.date(2026, 1, 1), cx + dx, cy + dy)
        for i, (cx, cy) in enumerate(CENTRES)
        for j, (dx, dy) in enumerate(offsets)
    ]
    return spark.createDataFrame(rows, "customer_id string, snapshot_date date, x double, y double").coalesce(1)


def _labels(model: object, df: DataFrame) -> list[tuple[str, int]]:
    out = model.transform(df).select("customer_id", segmentation.PREDICTION)  # type: ignore[attr-defined]
    return sorted((r.customer_id, int(r.segment_id)) for r in out.collect())  # 60 rows


def test_the_search_keeps_each_k_model_and_the_final_fit_reuses_it(spark: SparkSession) -> None:
    df = _blobs(spark).cache()
    cfg = SegmentConfig(features=tuple(FEATURES), log_features=(), k_min=2, k_max=4, seed=3)
    selection = segmentation.select_k(df, cfg, FEATURES)
    k = segmentation.best_k(selection.scores)
    assert k == 3 and [s.k for s in selection.scores] == [2, 3, 4] and sorted(selection.models) == [2, 3, 4]
    reused = segmentation.fit(df, cfg, FEATURES, k, selection)
    fresh = segmentation.fit(df, cfg, FEATURES, k)
    assert reused is selection.models[3]
    assert np.allclose(sorted(segmentation.centroids(reused)), sorted(segmentation.centroids(fresh)))
    labels = _labels(reused, df)
    assert labels == _labels(fresh, df)
    # The three planted blobs are the three clusters: every customer shares a cluster with its blob only.
    clusters = {(cid.split("-")[0], seg) for cid, seg in labels}
    assert len(clusters) == 3 and len({b for b, _ in clusters}) == 3 and len({s for _, s in clusters}) == 3
    df.unpersist()


def test_a_sampled_search_leaves_the_final_fit_to_every_row(spark: SparkSession) -> None:
    df = _blobs(spark).cache()
    cfg = SegmentConfig(features=tuple(FEATURES), log_features=(), k_min=2, k_max=4, seed=3, selection_sample=0.5)
    selection = segmentation.select_k(df, cfg, FEATURES)
    assert selection.models == {} and len(selection.scores) == 3
    final = segmentation.fit(df, cfg, FEATURES, 3, selection)
    # Fitted on all 60 rows: the scaler's mean is the mean of every customer, not of the sample's.
    scaler = final.stages[3]
    assert np.allclose(scaler.mean.toArray(), [10 / 3, 10 / 3])
    df.unpersist()


def test_laid_out_rows_give_the_same_segments_numbered_alike_in_any_order(spark: SparkSession) -> None:
    from pyspark.sql import functions as F

    from pmkt.libs.frames import laid_out

    cfg = SegmentConfig(features=tuple(FEATURES), log_features=(), k_min=3, k_max=3, seed=3)
    blobs = _blobs(spark)
    # The same customers as another file layout would deliver them: other partitions, another order.
    shuffled = blobs.repartition(3, F.rand(seed=11)).orderBy(F.rand(seed=5))
    fitted = [segmentation.fit(laid_out(df, ["customer_id"]), cfg, FEATURES, 3) for df in (blobs, shuffled)]
    assert _labels(fitted[0], blobs) == _labels(fitted[1], blobs)
    assert np.array_equal(np.array(segmentation.centroids(fitted[0])), np.array(segmentation.centroids(fitted[1])))
    # As they arrived, the same three blobs come out numbered otherwise: k-means|| draws its centres per partition.
    assert _labels(segmentation.fit(shuffled, cfg, FEATURES, 3), blobs) != _labels(fitted[0], blobs)


def test_overriding_the_features_alone_is_valid_and_a_misspelt_name_is_a_config_error() -> None:
    # The default log_features name behaviour columns a user's own feature list leaves out: they apply when used.
    segmentation.check_names(SegmentConfig(features=("orders_90d", "revenue_365d", "recency_days")))
    with pytest.raises(ConfigError, match="^config key 'segment.features' names 'frequncy', which is not a column"):
        segmentation.check_names(SegmentConfig(features=("frequncy", "monetary")))
    with pytest.raises(ConfigError, match="'segment.profile_features' names 'spend'"):
        segmentation.check_names(SegmentConfig(profile_features=("spend",)))


def test_segments_that_share_a_name_are_told_apart_by_what_sets_them_apart() -> None:
    zs = {
        0: {"monetary": 1.2, "frequency": 0.9, "recency_days": -0.8},
        1: {"monetary": -0.9, "frequency": -0.7, "recency_days": 0.1},
        2: {"monetary": 1.0, "frequency": 1.1, "recency_days": 0.6},
        3: {"monetary": 1.0, "frequency": 1.1, "recency_days": 0.6},  # the same as 2: only the id tells them apart
    }
    names = {sid: segment_profiles.auto_name(z) for sid, z in zs.items()}
    assert names == {
        0: "High-value frequent buyers",
        1: "Low-value occasional buyers",
        2: "Lapsing frequent buyers",
        3: "Lapsing frequent buyers",
    }
    names[2] = names[3] = names[0]  # three segments of one name: 0 is furthest from 2 and 3 in recency_days
    assert segment_profiles.unique_names(names, zs) == {
        0: "High-value frequent buyers, lower recency_days",
        1: "Low-value occasional buyers",
        2: "High-value frequent buyers, higher recency_days (2)",
        3: "High-value frequent buyers, higher recency_days (3)",
    }
