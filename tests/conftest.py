"""One Spark session for the whole suite, built by the project's own factory, plus a small generated lake."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from pmkt.libs.config import Config, load_config
from pmkt.libs.lake import Lake
from pmkt.libs.session import get_spark
from pmkt.libs.tables import TableId

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


def seed(lake: Lake, df: DataFrame, table: TableId, mode: str = "overwrite") -> None:
    """Write a test's input table with only the columns the code under test reads.

    A plain Delta write: such a table is partial by design, so it skips the contract `Lake.write` holds every
    job's output to.
    """
    df.write.format("delta").mode(mode).option("mergeSchema", "true").save(lake.location(table))


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


def own_copy(shared: GeneratedLake, base: Path) -> GeneratedLake:
    """A copy of a shared lake for tests that write: the shared lake stays as its fixture built it.

    Delta's logs hold relative paths, so the copy is a lake of its own. MLflow's store holds absolute ones;
    they are moved to the copy too, so its runs and models are written and read there.
    """
    root = base / "lake"
    shutil.copytree(shared.config.lake.root, root)
    _move_mlflow_paths(root / "mlflow" / "mlflow.db", str(Path(shared.config.lake.root).resolve()), str(root))
    return GeneratedLake(
        shared.base, replace(shared.config, lake=replace(shared.config.lake, root=str(root))), shared.reports
    )


def _move_mlflow_paths(db: Path, old: str, new: str) -> None:
    if not db.exists():
        return
    with sqlite3.connect(db) as con:
        for (table,) in con.execute("select name from sqlite_master where type = 'table'").fetchall():
            for column in con.execute(f"pragma table_info('{table}')").fetchall():
                if column[2].upper().startswith(("VARCHAR", "TEXT")):
                    con.execute(f'update "{table}" set "{column[1]}" = replace("{column[1]}", ?, ?)', (old, new))


@pytest.fixture(scope="session")
def generated(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> GeneratedLake:
    """Small generated data, ingested once; tests must not modify this lake (see `own_copy`)."""
    from pmkt.jobs import generate, ingest

    base = tmp_path_factory.mktemp("generated")
    config = test_config(base)
    generate.run(spark, config)
    reports = ingest.run(spark, config)
    return GeneratedLake(base, config, reports)


@pytest.fixture(scope="session")
def c360(spark: SparkSession, generated: GeneratedLake, tmp_path_factory: pytest.TempPathFactory) -> GeneratedLake:
    """features -> profiles -> segment (fit) on a copy of the generated lake."""
    from pmkt.jobs import features, profiles, segment

    lake = own_copy(generated, tmp_path_factory.mktemp("c360"))
    for job in (features, profiles, segment):
        job.run(spark, lake.config)
    return lake


@pytest.fixture(scope="session")
def modelled(spark: SparkSession, c360: GeneratedLake, tmp_path_factory: pytest.TempPathFactory) -> GeneratedLake:
    """Every model job, once, on a copy of the Customer 360 lake: the input of campaigns and the report."""
    from pmkt.jobs import pipeline

    lake = own_copy(c360, tmp_path_factory.mktemp("modelled"))
    steps = ["basket", "recommend", "churn", "propensity", "response", "ctr", "uplift", "clv", "attribution"]
    pipeline.run_steps(spark, lake.config, steps)  # two steps at a time (pipeline.lanes in local.yaml)
    return lake


@pytest.fixture(scope="session")
def lifetimes_datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data sets folder of the lifetimes wheel (CDNOW and its published summaries), read without importing
    the package: the wheel `make demo DATA=cdnow` downloads, or a fresh download from PyPI."""
    import glob
    import subprocess
    import sys
    import zipfile

    wheels = glob.glob(str(ROOT / "data" / "cdnow" / "wheel" / "*.whl"))
    base = tmp_path_factory.mktemp("lifetimes")
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "lifetimes==0.11.3", "-d", str(base)],
            check=True,
        )
        wheels = glob.glob(str(base / "*.whl"))  # published as Lifetimes-0.11.3-...whl
    with zipfile.ZipFile(wheels[0]) as wheel:
        for name in wheel.namelist():
            if name.startswith("lifetimes/datasets/") and not name.endswith(".py"):
                wheel.extract(name, base)
    return base / "lifetimes" / "datasets"
