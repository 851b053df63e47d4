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
