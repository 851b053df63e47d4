"""Jobs against metastore tables (`lake.catalog` set), as in a Databricks notebook: the session's own
spark_catalog, whose warehouse is the test session's temporary folder."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import features, ingest
from pmkt.libs import tables
from pmkt.libs.c360.inputs import BUILT_FROM
from pmkt.libs.lake import Lake
from tests.conftest import GeneratedLake, test_config

pytestmark = pytest.mark.slow
PREFIX = "pmkt_meta_"


def test_ingest_and_features_write_the_same_tables_to_the_metastore(spark: SparkSession, c360: GeneratedLake) -> None:
    # The same conf as the path-based lake but for the catalog: features builds the same cutoffs in one pass, so
    # the snapshots are equal to the last bit (a single-cutoff build sums in another order).
    config = test_config(c360.base, **{"lake.catalog": "spark_catalog", "lake.schema_prefix": PREFIX})
    ingest.run(spark, config)
    features.run(spark, config)
    by_name, by_path = Lake(spark, config.lake), Lake(spark, c360.config.lake)

    assert by_name.location(tables.SILVER["customers"]) == f"spark_catalog.{PREFIX}silver.customers"
    assert spark.catalog.tableExists(f"spark_catalog.{PREFIX}silver.customers")
    for entity, table in tables.SILVER.items():
        if by_path.exists(table):
            assert by_name.read(table).count() == by_path.read(table).count(), entity
    assert by_name.read(tables.QUARANTINE).count() == by_path.read(tables.QUARANTINE).count()
    day = by_path.latest_snapshot(tables.CUSTOMER_FEATURES)
    assert by_name.latest_snapshot(tables.CUSTOMER_FEATURES) == day

    def snapshot(lake: Lake) -> DataFrame:  # maps can't be sorted on (and keep no order): compare sorted entries
        rows = lake.read_snapshot(tables.CUSTOMER_FEATURES, day).drop(BUILT_FROM)
        return rows.withColumn("category_shares", F.array_sort(F.map_entries("category_shares")))

    assert_df_equality(
        snapshot(by_name),
        snapshot(by_path),
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_column_order=True,
    )
