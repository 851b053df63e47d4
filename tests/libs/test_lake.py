from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.config import LakeConfig
from pmkt.libs.errors import UserError
from pmkt.libs.lake import Lake

SCORES = tables.AUDIENCES


def test_snapshot_reads_pick_one_partition_and_the_latest(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(spark, LakeConfig(root=str(tmp_path / "lake")))
    assert lake.latest_rows(SCORES) is None
    with pytest.raises(UserError, match="does not exist yet"):
        lake.latest_snapshot(SCORES)
    may, june = dt.date(2025, 5, 1), dt.date(2025, 6, 1)
    rows = [("a", may, "1"), ("b", may, "2"), ("a", june, "3")]
    lake.write_snapshots(
        spark.createDataFrame(rows, "customer_id string, snapshot_date date, reason string").withColumn(
            "audience", F.lit("all")
        ),
        SCORES,
        [may, june],
    )
    assert lake.latest_snapshot(SCORES) == june
    assert lake.latest_snapshot(SCORES, "2025-05-01") == may
    with pytest.raises(UserError, match="snapshot 2025-07-01 not found"):
        lake.latest_snapshot(SCORES, "2025-07-01")
    assert sorted((r.customer_id, r.reason) for r in lake.read_snapshot(SCORES, may).collect()) == [
        ("a", "1"),
        ("b", "2"),
    ]
    latest = lake.latest_rows(SCORES)
    assert latest is not None and [(r.customer_id, r.reason) for r in latest.collect()] == [("a", "3")]


def test_writers_racing_to_create_a_table_all_land(spark: SparkSession, tmp_path: Path) -> None:
    """Three threads append metrics to a table that does not exist yet: Delta lets one create it and fails the
    others' commits (ProtocolChangedException); each loser commits again, so every row is there exactly once."""
    import threading

    from pmkt.libs.metrics import Metric, append_metrics

    lake = Lake(spark, LakeConfig(root=str(tmp_path / "lake")))
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def append(i: int) -> None:
        try:
            start.wait()
            append_metrics(spark, lake, [Metric("churn", "logreg", "roc_auc", i / 10, "test")], f"churn-{i}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = sorted((r.run_id, r.value) for r in lake.read(tables.MODEL_METRICS).collect())
    assert got == [("churn-0", 0.0), ("churn-1", 0.1), ("churn-2", 0.2)]
