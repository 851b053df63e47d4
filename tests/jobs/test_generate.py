from __future__ import annotations

from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import generate
from pmkt.libs import tables
from pmkt.libs.lake import Lake
from pmkt.libs.synth import corrupt
from pmkt.libs.synth import profiles as P
from tests.conftest import GeneratedLake, test_config

pytestmark = pytest.mark.slow


def _raw(spark: SparkSession, landing: Path, entity: str):
    fmt = generate.EXPORTS[entity][0]
    reader = spark.read.option("recursiveFileLookup", "true")
    return (
        reader.option("header", "true").csv(str(landing / entity))
        if fmt == "csv"
        else reader.json(str(landing / entity))
    )


def test_same_seed_same_data_other_seed_other_data(
    spark: SparkSession, generated: GeneratedLake, tmp_path: Path
) -> None:
    again = test_config(tmp_path / "a", **{"generate.customers": 600})
    generate.run(spark, again)
    for entity in ("customers", "transactions"):
        assert_df_equality(
            _raw(spark, generated.base / "landing", entity),
            _raw(spark, tmp_path / "a" / "landing", entity),
            ignore_row_order=True,
        )
    other = test_config(tmp_path / "b", **{"generate.seed": 7})
    generate.run(spark, other)
    # Every customer row differs under another seed: names, emails and phones are all seeded draws.
    left = _raw(spark, generated.base / "landing", "customers")
    right = _raw(spark, tmp_path / "b" / "landing", "customers")
    assert left.intersect(right).count() == 0


def test_planted_segments_behave_as_designed(spark: SparkSession, generated: GeneratedLake) -> None:
    lake = Lake(spark, generated.config.lake)
    segments = lake.read(tables.TRUTH_SEGMENTS)
    events = lake.read(tables.SILVER["events"]).join(segments, on="customer_id", how="inner")
    stats = {
        r.segment_name: r
        for r in events.groupBy("segment_name")
        .agg(
            (
                F.sum((F.col("event_type") == "purchase").cast("int"))
                / F.sum((F.col("event_type") == "view").cast("int"))
            ).alias("buy_per_view"),
            (F.sum((F.col("device") == "mobile").cast("int")) / F.count(F.lit(1))).alias("mobile"),
            (F.count(F.lit(1)) / F.countDistinct("customer_id")).alias("events_per_customer"),
        )
        .collect()
    }
    assert set(stats) == {a.name for a in P.ARCHETYPES[:4]}
    assert stats["Window shoppers"].buy_per_view < 0.5 * min(
        stats[n].buy_per_view for n in stats if n != "Window shoppers"
    )
    assert stats["Occasional buyers"].events_per_customer < 0.6 * min(
        stats[n].events_per_customer for n in stats if n != "Occasional buyers"
    )
    assert stats["Window shoppers"].mobile > stats["High-value loyalists"].mobile + 0.3


def test_planted_rules_and_bad_row_counts(spark: SparkSession, generated: GeneratedLake) -> None:
    lake = Lake(spark, generated.config.lake)
    rules = lake.read(tables.TRUTH_RULES).collect()
    assert len(rules) == len(P.RULES)
    for rule in rules:
        assert rule.n_a >= 20, rule
        # Organic co-purchases can only add to a planted rule's confidence.
        assert rule.planted_confidence - 0.05 <= rule.confidence <= rule.planted_confidence + 0.2, rule
        assert rule.lift > 5
    counts = {
        (r.entity, r.reason): r["count"]
        for r in lake.read(tables.TRUTH_BAD_ROWS).groupBy("entity", "reason").count().collect()
    }
    per_class = generate._per_class(generated.config.generate.customers)
    assert counts == {(e, c.reason): per_class for e, classes in corrupt.CLASSES.items() for c in classes}
    no_raw_pii = lake.read(tables.TRUTH_BAD_ROWS).where(
        (F.col("entity") == "customers") & F.col("raw_line").isNotNull()
    )
    assert no_raw_pii.count() == 0
