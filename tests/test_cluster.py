"""generate + ingest through spark-submit.sh on a real standalone cluster equal a local-mode run.

The two steps run as one application (`pmkt pipeline`), as a user would run them: a second submit would only
add another driver and two more executors to start and warm up. The local run is the suite's own generated lake
(the `generated` fixture), made from the same conf with the same overrides, so it is not made twice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from benchmarks.standalone import cluster
from pmkt.libs import pii, tables
from pmkt.libs.ingest.validate import LINEAGE
from pmkt.libs.lake import Lake
from tests.conftest import ENTITIES, SMALL, GeneratedLake, test_config

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.cluster, pytest.mark.slow]
# A cluster keeps Spark's and Delta's own defaults (200 shuffle partitions, 50 for each Delta log snapshot),
# sized for data far larger than this world's: with these the run took 133 s instead of 192 s (300 customers).
# The suite's session uses 2 shuffle partitions, so equal outputs still show that partitioning changes nothing.
CLUSTER_OPTIONS = {
    "spark.options.spark.sql.shuffle.partitions": 4,
    "spark.options.spark.databricks.delta.snapshotPartitions": 2,
}


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A master and two 1-core workers on 127.0.0.1; only these processes are stopped afterwards."""
    with cluster(tmp_path_factory.mktemp("cluster-logs")) as master:
        yield master


def _submit(master: str, job: str, sets: dict[str, object], key_env: str) -> None:
    args = [str(ROOT / "spark-submit.sh"), "--master", master, job, "--conf-file", str(ROOT / "conf" / "local.yaml")]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    # The key the local side used: a cluster refuses the development key unless it is given explicitly.
    key = os.environ.get(key_env) or pii.DEV_KEY
    env = {**os.environ, key_env: key, "PMKT_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run(args, check=False, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-3000:]


def test_cluster_run_equals_local_run(
    standalone: str, spark: SparkSession, generated: GeneratedLake, tmp_path: Path
) -> None:
    cluster_base = tmp_path / "cluster"
    sets = {
        "lake.root": cluster_base / "lake",
        "generate.landing": cluster_base / "landing",
        "spark.checkpoint_dir": cluster_base / "checkpoints",
        **SMALL,
        **CLUSTER_OPTIONS,
        **{f"ingest.sources.{e}.path": cluster_base / "landing" / e for e in ENTITIES},
    }
    _submit(standalone, "pipeline", {**sets, "pipeline.steps": "[generate, ingest]"}, generated.config.pii.key_env)
    inserted = {r.entity: r.inserted for r in generated.reports}

    on_cluster = Lake(spark, test_config(cluster_base).lake)
    on_local = Lake(spark, generated.config.lake)
    for entity in ENTITIES:
        table = tables.SILVER[entity]
        left = on_cluster.read(table).drop(*LINEAGE)
        right = on_local.read(table).drop(*LINEAGE)
        assert left.count() == right.count() == inserted[entity]
        assert left.exceptAll(right).count() == 0 and right.exceptAll(left).count() == 0, entity
    assert_df_equality(
        on_cluster.read(tables.SILVER["customers"]).drop(*LINEAGE),
        on_local.read(tables.SILVER["customers"]).drop(*LINEAGE),
        ignore_row_order=True,
    )
    quarantine_cols = ["entity", "reason", "key", "raw"]
    assert_df_equality(
        on_cluster.read(tables.QUARANTINE).select(*quarantine_cols),
        on_local.read(tables.QUARANTINE).select(*quarantine_cols),
        ignore_row_order=True,
    )
