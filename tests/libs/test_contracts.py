"""Table contracts: what a write may hold, checked before anything is written, and kept by every stored table."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from pmkt.libs import contracts, tables
from pmkt.libs.config import LakeConfig
from pmkt.libs.contracts import features
from pmkt.libs.contracts.base import Col, Contract, expand
from pmkt.libs.errors import ContractError
from pmkt.libs.lake import Lake
from tests.conftest import GeneratedLake

TINY = Contract("thing", (Col("id", "string"), Col("n", "bigint"), Col("note", "string", optional=True)))


KINDS = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
}


def schema(ddl: str) -> T.StructType:
    """A flat schema from `name type, ...` without a JVM."""
    pairs = [part.strip().split(" ") for part in ddl.split(",")]
    return T.StructType([T.StructField(name.strip("`"), KINDS[kind]) for name, kind in pairs])


def test_a_contract_names_unknown_missing_and_mistyped_columns() -> None:
    assert TINY.problems(schema("id string, n bigint")) == []  # an optional column may be absent
    assert TINY.problems(schema("id string, n bigint, note string")) == []
    assert TINY.problems(schema("id string, n int, extra double")) == ["n is int, not bigint", "unknown column extra"]
    assert TINY.problems(schema("n bigint")) == ["no column id"]
    assert TINY.ddl() == "`id` string, `n` bigint, `note` string"


def test_per_window_columns_follow_the_configured_windows() -> None:
    cols = (Col("id", "string"), Col("orders_<n>d", "int"), Col("revenue_<n>d", "double"), Col("x", "int"))
    assert [name for name, _ in expand(cols, (7, 28))] == [
        "id",
        "orders_7d",
        "revenue_7d",
        "orders_28d",
        "revenue_28d",
        "x",
    ]
    windowed = Contract("t", cols)
    assert windowed.problems(schema("id string, orders_7d int, revenue_7d double, x int")) == []
    assert windowed.problems(schema("id string, orders_7d int, orders_xd int, revenue_7d double, x int")) == [
        "unknown column orders_xd"
    ]
    assert windowed.problems(schema("id string, orders_7d int, x int")) == ["no column revenue_<n>d"]


def test_silver_takes_the_conf_extras_and_bronze_only_the_mapped_columns() -> None:
    silver = contracts.CONTRACTS[tables.SILVER["customers"]]
    names = [c.name for c in silver.columns]
    assert names[:5] == ["customer_id", "name_pseudo", "email_pseudo", "email_domain", "phone_pseudo"]
    assert "email" not in names and names[-4:] == ["_source_file", "_ingest_id", "_ingested_at", "_row_hash"]
    stored = ", ".join(f"`{c.name}` {c.kind}" for c in silver.columns)
    assert silver.problems(schema(stored + ", loyalty_tier string")) == []  # a mapped extra
    assert silver.problems(schema(stored.replace("`consent` boolean", "`consent` string"))) == [
        "consent is string, not boolean"
    ]
    bronze = contracts.CONTRACTS[tables.BRONZE["events"]]
    landed = "_ingest_id string, _ingested_at timestamp, customer_id string, event_ts string, extra_col string"
    lineage = "_corrupt_record string, _parse_note string, _raw string, _source_file string"
    meta = "_file_size bigint, _file_mtime timestamp, _line bigint"
    assert bronze.problems(schema(f"{landed}, {lineage}, {meta}")) == []
    assert bronze.problems(schema(f"{landed}, {meta}")) == [
        "no column _corrupt_record",
        "no column _parse_note",
        "no column _raw",
        "no column _source_file",
    ]


def test_a_write_that_breaks_the_contract_stops_before_anything_lands(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(spark, LakeConfig(root=str(tmp_path / "lake")))
    runs = spark.createDataFrame([("r1", "churn")], "run_id string, job string")  # no finished_at
    with pytest.raises(ContractError, match=r"system\.job_runs breaks its contract: no column finished_at"):
        lake.write(runs, tables.JOB_RUNS, mode="append")
    assert not lake.exists(tables.JOB_RUNS)
    ids = spark.createDataFrame([("C1", 1, None)], "customer_id string, user_idx bigint, first_seen timestamp")
    lake.write(ids.withColumn("user_idx", ids["user_idx"].cast("int")), tables.CUSTOMER_INDEX, mode="append")
    with pytest.raises(ContractError, match="user_idx is bigint, not int"):
        lake.merge(ids, tables.CUSTOMER_INDEX, keys=["customer_id"], update=False)
    assert lake.read(tables.CUSTOMER_INDEX).count() == 1


def test_every_table_in_the_catalogue_has_a_contract_and_no_other() -> None:
    assert set(contracts.CONTRACTS) == {*tables.CATALOGUE, tables.LAKE_LOCK}
    names = [name for name, _ in expand(features.FEATURES, (30, 90, 365))]
    assert names[names.index("days_since_last_event") + 1 : names.index("activity_trend")] == [
        f"{kind}_{d}d" for d in (30, 90, 365) for kind in ("orders", "revenue", "events")
    ]


def test_every_table_the_models_stored_keeps_its_contract(spark: SparkSession, modelled: GeneratedLake) -> None:
    lake = Lake(spark, modelled.config.lake)
    stored = [t for t in contracts.CONTRACTS if lake.exists(t)]
    broken = {str(t): contracts.CONTRACTS[t].problems(lake.read(t).schema) for t in stored}
    assert {t: p for t, p in broken.items() if p} == {}
    expected = {tables.CUSTOMER_FEATURES, tables.SEGMENTS, tables.CHURN_SCORES, tables.RECOMMENDATIONS}
    assert expected | {tables.ASSOCIATION_RULES, tables.PROPENSITY_SCORES, tables.SILVER["customers"]} <= set(stored)
