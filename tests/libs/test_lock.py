"""The lake's writer lock: a claim reports, from its MERGE's own counts, whether it wrote the lock row."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

from pyspark.sql import Row, SparkSession

from pmkt.libs import lock, tables
from pmkt.libs.lake import Lake
from tests.conftest import test_config


def _me(holder: str, pid: int) -> Row:
    since = dt.datetime(2026, 1, 1)
    return Row(name=lock.NAME, holder=holder, job="test", host=socket.gethostname(), pid=pid, since=since)


def test_a_claim_is_true_only_when_it_wrote_the_row(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(spark, test_config(tmp_path).lake)
    assert lock._claim(lake, _me("a", 1), None)  # a free lake (no lock table yet)
    assert not lock._claim(lake, _me("b", 2), None)  # held by a
    assert not lock._claim(lake, _me("c", 3), "not-a")  # a takeover that names another holder
    assert lock._claim(lake, _me("d", 4), "a")  # a takeover of a's row
    rows = lake.read(tables.LAKE_LOCK).collect()  # the lock table: one row per lake at most
    assert [(r.holder, r.pid) for r in rows] == [("d", 4)]


def test_the_lock_is_released_and_taken_again(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(spark, test_config(tmp_path).lake)
    for job in ("first", "second"):
        with lock.lake_lock(lake, job, wait_seconds=0):
            held = lake.read(tables.LAKE_LOCK).collect()  # the lock table: one row per lake at most
            assert [r.job for r in held] == [job]
    assert lake.read(tables.LAKE_LOCK).count() == 0
