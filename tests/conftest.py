"""One Spark session for the whole suite, built by the project's own factory, plus a small generated lake."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from libs.config import Config, load_config
from libs.session import get_spark

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"generate.customers": 600, "generate.products": 200, "generate.files_per_table": 2}
ENTITIES = ("products", "customers", "campaigns", "events", "transactions", "campaign_contacts")


def test_config(base: Path, **overrides: object) -> Config:
    """conf/local.yaml pointed at `base`, small and fast."""
    sets = {
        "lake.root": str(base / "lake"),
        "generate.landing": str(base / "landing"),
        "spark.master": "local[2]",
        **SMALL,
        **{f"ingest.sources.{e}.path": str(base / "landing" / e) for e in ENTITIES},
        **overrides,
    }
    return load_config(ROOT / "conf" / "local.yaml", [f"{k}={v}" for k, v in sets.items()])


test_config.__test__ = False  # a helper, not a test


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    base = tmp_path_factory.mktemp("spark")
    config = test_config(
        base,
        **{
            "spark.options.spark.sql.shuffle.partitions": 2,
            "spark.options.spark.default.parallelism": 2,
            "spark.options.spark.ui.enabled": "false",
            "spark.options.spark.sql.warehouse.dir": str(base / "warehouse"),
            "spark.options.spark.driver.memory": "3g",
            "spark.checkpoint_dir": str(base / "checkpoints"),
        },
    )
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = get_spark(config)
    yield session
    session.stop()


@dataclass(frozen=True)
class GeneratedLake:
    base: Path
    config: Config
    reports: list


@pytest.fixture(scope="session")
def generated(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> GeneratedLake:
    """Small generated data, ingested once; tests must not modify this lake."""
    from jobs import generate, ingest

    base = tmp_path_factory.mktemp("generated")
    config = test_config(base)
    generate.run(spark, config)
    reports = ingest.run(spark, config)
    return GeneratedLake(base, config, reports)


@pytest.fixture(scope="session")
def c360(spark: SparkSession, generated: GeneratedLake) -> GeneratedLake:
    """features -> profiles -> segment (fit) on the generated lake."""
    from jobs import features, profiles, segment

    features.run(spark, generated.config)
    profiles.run(spark, generated.config)
    segment.run(spark, generated.config)
    return generated


@pytest.fixture(scope="session")
def modelled(spark: SparkSession, c360: GeneratedLake) -> GeneratedLake:
    """Every model job, once, on the Customer 360 lake: the input of campaigns and the report."""
    from jobs import basket, churn, propensity, recommend, response

    for job in (basket, recommend, churn, propensity, response):
        job.run(spark, c360.config)
    return c360
