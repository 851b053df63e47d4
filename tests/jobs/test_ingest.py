"""Ingest of the generated data: quarantine reasons, reconciliation, idempotence and PII, against planted truth."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pmkt.jobs import ingest
from pmkt.libs import tables
from pmkt.libs.lake import Lake
from pmkt.libs.pii import EMAIL_PATTERN
from tests.conftest import GeneratedLake

pytestmark = pytest.mark.slow


def _lake(spark: SparkSession, generated: GeneratedLake) -> Lake:
    return Lake(spark, generated.config.lake)


def test_every_bad_row_class_is_quarantined_with_its_reason(spark: SparkSession, generated: GeneratedLake) -> None:
    lake = _lake(spark, generated)
    truth = lake.read(tables.TRUTH_BAD_ROWS).where(F.col("reason") != "duplicate")
    quarantine = lake.read(tables.QUARANTINE)
    assert_df_equality(
        quarantine.groupBy("entity", "reason").count(),
        truth.groupBy("entity", "reason").count(),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    keyed = truth.where(F.col("key").isNotNull())
    assert keyed.count() > 30
    assert keyed.join(quarantine, on=["entity", "reason", "key"], how="left_anti").count() == 0
    malformed_truth = truth.where((F.col("reason") == "malformed") & F.col("raw_line").isNotNull()).select(
        "entity", F.col("raw_line").alias("raw")
    )
    malformed_found = quarantine.where(F.col("reason") == "malformed").join(
        malformed_truth.select("entity").distinct(), on="entity", how="left_semi"
    )
    assert_df_equality(
        malformed_found.select("entity", "raw"), malformed_truth, ignore_row_order=True, ignore_nullable=True
    )


def test_planted_duplicates_are_dropped_and_keys_are_unique(spark: SparkSession, generated: GeneratedLake) -> None:
    lake = _lake(spark, generated)
    planted = {
        r.entity: r["count"]
        for r in lake.read(tables.TRUTH_BAD_ROWS)
        .where(F.col("reason") == "duplicate")
        .groupBy("entity")
        .count()
        .collect()
    }
    dropped = {r.entity: r.duplicates for r in generated.reports if r.duplicates}
    assert dropped == planted
    events = lake.read(tables.SILVER["events"])
    assert events.count() == events.select("event_id").distinct().count()


def test_reconciliation_is_exact_against_the_tables(spark: SparkSession, generated: GeneratedLake) -> None:
    lake = _lake(spark, generated)
    quarantined = {r.entity: r["count"] for r in lake.read(tables.QUARANTINE).groupBy("entity").count().collect()}
    assert len(generated.reports) == 6
    for report in generated.reports:
        bronze = lake.read(tables.BRONZE[report.entity]).count()
        silver = lake.read(tables.SILVER[report.entity]).count()
        assert report.reconciles
        assert bronze == report.input == silver + quarantined.get(report.entity, 0) + report.duplicates, report
    runs = lake.read(tables.INGEST_RUNS).where(
        F.col("input")
        != F.col("inserted") + F.col("updated") + F.col("quarantined") + F.col("duplicates") + F.col("unchanged")
    )
    assert runs.count() == 0


def test_reingesting_the_same_files_changes_nothing(spark: SparkSession, generated: GeneratedLake) -> None:
    lake = _lake(spark, generated)
    before = {t: lake.version(t) for t in tables.CATALOGUE}
    assert ingest.run(spark, generated.config) == []
    assert {t: lake.version(t) for t in tables.CATALOGUE} == before


def _string_values(df: DataFrame) -> DataFrame:
    cols = [f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType)]
    return df.select(F.explode(F.array(*[F.col(f"`{c}`") for c in cols])).alias("value")).where(
        F.col("value").isNotNull()
    )


def test_no_raw_pii_in_any_table(spark: SparkSession, generated: GeneratedLake) -> None:
    lake = _lake(spark, generated)
    raw = (
        spark.read.option("header", "true")
        .option("recursiveFileLookup", "true")
        .csv(str(generated.base / "landing" / "customers"))
    )
    secrets = (
        raw.select(F.explode(F.array("email", "phone", "name")).alias("secret"))
        .where(F.col("secret").isNotNull())
        .distinct()
    )
    assert secrets.count() > 1500
    phone_like = r"\+44 7\d{3} \d{6}"
    for table in tables.CATALOGUE:
        if not lake.exists(table):
            continue
        values = _string_values(lake.read(table))
        exact = values.join(F.broadcast(secrets), on=values["value"] == secrets["secret"], how="inner")
        assert exact.count() == 0, f"raw PII value in {table}"
        patterns = values.where(F.col("value").rlike(EMAIL_PATTERN) | F.col("value").rlike(phone_like))
        assert patterns.count() == 0, f"email or phone pattern in {table}: {patterns.first()}"
    names = raw.select(F.col("name").alias("secret")).distinct()
    for table in (tables.BRONZE["customers"], tables.QUARANTINE):
        inside = (
            _string_values(lake.read(table))
            .crossJoin(F.broadcast(names))
            .where(F.col("value").contains(F.col("secret")))
        )
        assert inside.count() == 0, f"a raw name inside a value of {table}"
    customers = lake.read(tables.SILVER["customers"])
    assert customers.where(F.length("email_pseudo") == 64).count() == customers.count()
    assert customers.select("email_domain").distinct().count() == 6
