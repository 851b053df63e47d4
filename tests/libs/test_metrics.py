from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pmkt.libs.config import LakeConfig
from pmkt.libs.lake import Lake
from pmkt.libs.metrics import Metric, append_metrics, latest_metrics


def test_append_and_read_latest_run(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(spark, LakeConfig(root=str(tmp_path)))
    append_metrics(spark, lake, [Metric("recommend", "als", "ndcg@10", 0.2, "test")], "r1")
    append_metrics(
        spark,
        lake,
        [Metric("recommend", "als", "ndcg@10", 0.3, "test"), Metric("recommend", "popularity", "ndcg@10", 0.1, "test")],
        "r2",
    )
    append_metrics(spark, lake, [Metric("churn", "logreg", "roc_auc", 0.9, "2025-06-01")], "r3")
    latest = {(r.variant, r.value, r.run_id) for r in latest_metrics(lake, "recommend").collect()}
    assert latest == {("als", 0.3, "r2"), ("popularity", 0.1, "r2")}
    assert lake.version(lake_table := __import__("pmkt.libs.tables", fromlist=["MODEL_METRICS"]).MODEL_METRICS) == 2
    assert lake.read(lake_table).columns == ["model", "variant", "metric", "value", "split", "run_id", "created_at"]


def test_non_finite_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="not finite"):
        Metric("churn", "logreg", "roc_auc", float("nan"), "test")


def test_side_by_side_puts_variants_in_rows_and_metrics_in_columns() -> None:
    from pmkt.libs.metrics import render_side_by_side

    rows = [
        ("recommend", "popular", "ndcg@10", 0.1, "test"),
        ("recommend", "popular", "map@10", 0.05, "test"),
        ("recommend", "als", "ndcg@10", 0.3, "test"),
        ("recommend", "all", "test_customers", 90.0, "test"),
        ("recommend", "als_r8", "ndcg@10", 0.25, "validation"),
        ("churn", "logreg", "roc_auc", 0.9, "test"),
    ]
    lines = render_side_by_side(rows, "recommend", order=("popular", "als", "ndcg", "map")).splitlines()
    assert [line.split() for line in lines] == [
        ["variant", "ndcg@10", "map@10"],
        ["-------", "-------", "------"],
        ["popular", "0.1000", "0.0500"],
        ["als", "0.3000"],
    ]
    alphabetical = [line.split()[0] for line in render_side_by_side(rows, "recommend").splitlines()[2:]]
    assert alphabetical == ["als", "popular"]
