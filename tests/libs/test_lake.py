from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pmkt.libs.config import LakeConfig
from pmkt.libs.errors import UserError
from pmkt.libs.lake import Lake
from pmkt.libs.tables import TableId

SCORES = TableId("gold", "scores")


def test_snapshot_reads_pick_one_partition_and_the_latest(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(spark, LakeConfig(root=str(tmp_path / "lake")))
    assert lake.latest_rows(SCORES) is None
    with pytest.raises(UserError, match="does not exist yet"):
        lake.latest_snapshot(SCORES)
    may, june = dt.date(2025, 5, 1), dt.date(2025, 6, 1)
    rows = [("a", may, 1.0), ("b", may, 2.0), ("a", june, 3.0)]
    lake.write_snapshots(
        spark.createDataFrame(rows, "customer_id string, snapshot_date date, score double"), SCORES, [may, june]
    )
    assert lake.latest_snapshot(SCORES) == june
    assert lake.latest_snapshot(SCORES, "2025-05-01") == may
    with pytest.raises(UserError, match="snapshot 2025-07-01 not found"):
        lake.latest_snapshot(SCORES, "2025-07-01")
    assert sorted((r.customer_id, r.score) for r in lake.read_snapshot(SCORES, may).collect()) == [
        ("a", 1.0),
        ("b", 2.0),
    ]
    latest = lake.latest_rows(SCORES)
    assert latest is not None and [(r.customer_id, r.score) for r in latest.collect()] == [("a", 3.0)]
