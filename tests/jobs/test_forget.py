"""`pmkt forget`: after erasure and vacuum, a customer is in no table, no data file and no `_delta_log` entry."""

from __future__ import annotations

import csv
import hashlib
import hmac
import re
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import forget
from pmkt.libs import models, pii, tables
from pmkt.libs.config import ForgetConfig
from pmkt.libs.lake import Lake
from tests.conftest import GeneratedLake, own_copy


def _traces(root: Path, value: str) -> list[str]:
    """Files under `root` holding `value` as a whole token: parquet read cell by cell, everything else as text."""
    token = re.compile(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])")
    hits = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        text = (
            str(pq.read_table(path).to_pylist())
            if path.suffix == ".parquet"
            else path.read_bytes().decode("utf-8", errors="replace")
        )
        if token.search(text):
            hits.append(str(path.relative_to(root)))
    return hits


def test_forget_leaves_no_trace_in_tables_files_or_log(
    spark: SparkSession, modelled: GeneratedLake, tmp_path: Path
) -> None:
    config = own_copy(modelled, tmp_path).config
    lake_dir = Path(config.lake.root)
    lake = Lake(spark, config.lake)
    by_id = lake.read(tables.RECOMMENDATIONS).join(
        lake.read(tables.SILVER["transactions"]), on="customer_id", how="inner"
    )
    [first, second] = [
        r.customer_id for r in by_id.select("customer_id").distinct().orderBy("customer_id").limit(2).collect()
    ]
    exports = sorted((modelled.base / "landing" / "customers").glob("part-*.csv"))
    email = next(r["email"] for f in exports for r in csv.DictReader(f.open()) if r["customer_id"] == second)
    assert _traces(lake_dir, first) and _traces(lake_dir, second)  # the scan sees them before
    held = {
        str(t): lake.read(t).where(F.col("customer_id") == first).count()
        for t in (
            tables.SILVER["customers"],
            tables.SILVER["transactions"],
            tables.RECOMMENDATIONS,
            tables.CUSTOMER_FEATURES,
        )
    }
    n_customers = lake.read(tables.SILVER["customers"]).count()
    holding = lake.version(tables.SILVER["customers"])  # a version that holds both customers

    # One by id, one by the raw email (pseudonymised with the same key to find the customer).
    config = replace(config, forget=ForgetConfig(customer_ids=(first,), emails=(email,), vacuum_retention_hours=0))
    forget.run(spark, config)

    assert _traces(lake_dir, first) == [] and _traces(lake_dir, second) == []
    assert lake.read(tables.SILVER["customers"]).count() == n_customers - 2
    # Time travel can't return them: the files the erasure rewrote are gone.
    with pytest.raises(Exception, match="(?i)not.*exist|FileNotFound|FAILED_READ_FILE"):
        old = spark.read.format("delta").option("versionAsOf", holding).load(lake.location(tables.SILVER["customers"]))
        old.where(F.col("customer_id").isin(first, second)).collect()

    audit = {r.customer_hash: r for r in lake.read(tables.ERASURE_LOG).collect()}
    expected_hash = hmac.new(pii.DEV_KEY.encode(), first.encode(), hashlib.sha256).hexdigest()
    row = audit[expected_hash]
    assert set(audit) == {expected_hash, hmac.new(pii.DEV_KEY.encode(), second.encode(), hashlib.sha256).hexdigest()}
    assert {t for t, n in held.items() if n} <= set(row.tables)
    assert row.rows_removed >= sum(held.values())
    registered = [f"{v.name} v{v.version}" for v in models.versions(config)]
    assert sorted(row.models_to_retrain) == sorted(registered)
    assert {"pmkt_segment", "pmkt_churn"} <= {v.split(" v")[0] for v in registered}
