"""Data-quality expectations stop the pipeline on a planted upstream break; drift flags a planted shift."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import pipeline, quality
from pmkt.libs import tables
from pmkt.libs.config import Config, Expectation, load_config
from pmkt.libs.lake import Lake
from pmkt.libs.quality import QualityGateError
from tests.conftest import seed

EXPECTATIONS = (
    Expectation("silver.order_lines", "mean_change", "unit_price", max_change=0.5),
    Expectation("silver.order_lines", "range", "unit_price", min=0.0, max=1000.0, max_share=0.01),
    Expectation("silver.customers", "not_null", "city", max_share=0.2),
    Expectation("silver.customers", "unique", "customer_id"),
    Expectation("silver.customers", "accepted_values", "gender", values=("F", "M"), severity="warn"),
    Expectation(
        "silver.order_lines",
        "references",
        "customer_id",
        ref_table="silver.customers",
        ref_column="customer_id",
        max_share=0.05,
    ),
    Expectation("silver.order_lines", "freshness", "order_ts", max_age_days=3650),
    Expectation("silver.order_lines", "row_count_change", max_change=0.5, severity="warn"),
)


def _config(tmp_path: Path) -> Config:
    conf = tmp_path / "q.yaml"
    conf.write_text(f"lake:\n  root: {tmp_path / 'lake'}\npipeline:\n  steps: [quality, segment]\n")
    config = load_config(conf)
    return replace(config, quality=replace(config.quality, expectations=EXPECTATIONS))


def _silver(spark: SparkSession, lake: Lake, null_cities: int = 0, price_factor: float = 1.0) -> None:
    customers = [(f"C{i}", None if i < null_cities else "Leeds", "X" if i == 0 else "F") for i in range(10)]
    seed(
        lake,
        spark.createDataFrame(customers, "customer_id string, city string, gender string"),
        tables.SILVER["customers"],
        mode="overwrite",
    )
    day = dt.datetime.now() - dt.timedelta(days=3)
    orders = [(f"O{i}", f"C{i % 10}" if i else "C99", day, 12.5 * price_factor) for i in range(20)]
    schema = "order_id string, customer_id string, order_ts timestamp, unit_price double"
    seed(lake, spark.createDataFrame(orders, schema), tables.SILVER["transactions"], mode="overwrite")


def test_clean_data_passes_with_exact_counts(spark: SparkSession, tmp_path: Path) -> None:
    config = _config(tmp_path)
    lake = Lake(spark, config.lake)
    _silver(spark, lake)
    quality.run(spark, config)
    got = {(r.table, r.rule): (r.rows, r.failing, r.passed) for r in lake.read(tables.DATA_QUALITY).collect()}
    assert got == {
        ("silver.order_lines", "mean_change"): (20, 0.0, True),  # first evaluation: nothing to compare with
        ("silver.order_lines", "range"): (20, 0.0, True),
        ("silver.customers", "not_null"): (10, 0.0, True),
        ("silver.customers", "unique"): (10, 0.0, True),
        ("silver.customers", "accepted_values"): (10, 1.0, False),  # C0's "X": a warning only
        ("silver.order_lines", "references"): (20, 1.0, True),  # C99, 1 of 20 = the allowed 5%
        ("silver.order_lines", "freshness"): (20, 0.0, True),
        ("silver.order_lines", "row_count_change"): (20, 0.0, True),
    }
    observed = {r.rule: r.observed for r in lake.read(tables.DATA_QUALITY).collect()}
    assert observed["mean_change"] == pytest.approx(12.5) and observed["freshness"] == pytest.approx(3, abs=0.01)


def test_a_mostly_null_column_stops_the_pipeline_before_the_models(spark: SparkSession, tmp_path: Path) -> None:
    config = _config(tmp_path)
    lake = Lake(spark, config.lake)
    _silver(spark, lake, null_cities=8)
    with pytest.raises(QualityGateError) as caught:
        pipeline.run(spark, config)
    message = str(caught.value)
    assert "\n" not in message
    assert "silver.customers failed not_null(city): failing share 80.00% > allowed 20.00%" in message
    assert not lake.exists(tables.SEGMENTS)  # segment, the next step, never ran


def test_prices_in_cents_fail_against_the_last_evaluation(spark: SparkSession, tmp_path: Path) -> None:
    config = _config(tmp_path)
    lake = Lake(spark, config.lake)
    _silver(spark, lake)
    quality.run(spark, config)
    _silver(spark, lake, price_factor=100.0)
    with pytest.raises(
        QualityGateError,
        match=r"silver.order_lines failed mean_change\(unit_price\): failing share "
        r"9900.00% > allowed 50.00% \(and 1 more",
    ):
        quality.run(spark, config)
    latest = lake.read(tables.DATA_QUALITY).where(F.col("table") == "silver.order_lines")
    last = {r.rule: (r.passed, r.failing_share) for r in latest.orderBy("evaluated_at").collect()}
    assert last["range"] == (False, 1.0) and last["mean_change"] == (False, pytest.approx(99.0))


def test_drift_flags_a_planted_shift_and_passes_a_stable_feature(spark: SparkSession, tmp_path: Path) -> None:
    config = _config(tmp_path)
    lake = Lake(spark, config.lake)
    before, after = dt.date(2025, 1, 1), dt.date(2025, 2, 1)
    # views: no events in either snapshot; clicks: none before, then for half the customers.
    rows = [(before, f"C{i}", i // 10, i % 7, i // 10, None, None) for i in range(1000)]
    rows += [(after, f"C{i}", i // 10 + 60, i % 7, i // 10 + 1, None, i % 3 if i % 2 else None) for i in range(1000)]
    seed(
        lake,
        spark.createDataFrame(
            rows,
            "snapshot_date date, customer_id string, recency_days int, frequency int, tenure_days int, views int, "
            "clicks int",
        ),
        tables.CUSTOMER_FEATURES,
        mode="overwrite",
    )
    config = replace(config, quality=replace(config.quality, expectations=()))
    quality.run(spark, config)
    drift = {r.column: (r.level, r.psi) for r in lake.read(tables.DRIFT).collect()}
    assert drift["recency_days"][0] == "alert" and drift["recency_days"][1] > 2  # 60 days later for everyone
    assert drift["frequency"] == ("ok", pytest.approx(0.0, abs=1e-12))  # the same distribution
    assert drift["tenure_days"][0] == "ok" and 0 < drift["tenure_days"][1] < 0.1  # one day older: a small move
    assert drift["views"] == ("ok", pytest.approx(0.0, abs=1e-12))  # null throughout: no bins, no drift
    # Half the rows leave the null bin for the one other bin: (0.5 - 1) ln(0.5 / 1) + (0.5 - eps) ln(0.5 / eps).
    eps = 1e-4  # an empty bin's share
    assert drift["clicks"] == ("alert", pytest.approx(-0.5 * math.log(0.5) + (0.5 - eps) * math.log(0.5 / eps)))
    assert {r.reference_snapshot for r in lake.read(tables.DRIFT).collect()} == {before}
