"""generate + ingest through spark-submit.sh on a real standalone cluster equal a local-mode run."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from jobs import generate, ingest
from libs import tables
from libs.ingest.validate import LINEAGE
from libs.lake import Lake
from tests.conftest import ENTITIES, test_config

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.cluster, pytest.mark.slow]
KEY = "cluster-test-pii-key"
SMALL = {"generate.customers": 300, "generate.products": 80}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spark_home() -> str:
    import pyspark

    return os.path.dirname(pyspark.__file__)


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A master and two 1-core workers on 127.0.0.1; only these processes are stopped afterwards."""
    home, logs = _spark_home(), tmp_path_factory.mktemp("cluster-logs")
    port, ui = _free_port(), _free_port()
    env = {**os.environ, "SPARK_HOME": home, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(logs)}
    spark_class = os.path.join(home, "bin", "spark-class")
    procs = [subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)],
        env=env, stdout=open(logs / "master.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)]
    try:
        _wait(lambda: _alive_workers(ui) is not None, "master")
        for i in range(2):
            procs.append(subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}", "--host", "127.0.0.1",
                 "--cores", "1", "--memory", "2g", "--webui-port", str(_free_port()), "--work-dir", str(logs / f"work{i}")],
                env=env, stdout=open(logs / f"worker{i}.log", "w"), stderr=subprocess.STDOUT, start_new_session=True))
        _wait(lambda: _alive_workers(ui) == 2, "two workers")
        yield f"spark://127.0.0.1:{port}"
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)


def _alive_workers(ui: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as resp:
            return int(json.load(resp)["aliveworkers"])
    except OSError:
        return None


def _wait(ready, what: str, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            return
        time.sleep(1)
    raise TimeoutError(f"standalone {what} not up after {timeout}s")


def _submit(master: str, job: str, sets: dict[str, object]) -> None:
    args = [str(ROOT / "spark-submit.sh"), "--master", master, job, "--conf-file", str(ROOT / "conf" / "local.yaml")]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    env = {**os.environ, "PMKT_PII_KEY": KEY, "PMKT_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


def test_cluster_run_equals_local_run(standalone: str, spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster_base, local_base = tmp_path / "cluster", tmp_path / "local"
    sets = {
        "lake.root": cluster_base / "lake", "generate.landing": cluster_base / "landing",
        "spark.checkpoint_dir": cluster_base / "checkpoints", **SMALL,
        **{f"ingest.sources.{e}.path": cluster_base / "landing" / e for e in ENTITIES},
    }
    _submit(standalone, "generate", sets)
    _submit(standalone, "ingest", sets)

    monkeypatch.setenv("PMKT_PII_KEY", KEY)
    local = test_config(local_base, **SMALL)
    generate.run(spark, local)
    inserted = {r.entity: r.inserted for r in ingest.run(spark, local)}

    on_cluster = Lake(spark, test_config(cluster_base).lake)
    on_local = Lake(spark, local.lake)
    for entity in ENTITIES:
        table = tables.SILVER[entity]
        left = on_cluster.read(table).drop(*LINEAGE)
        right = on_local.read(table).drop(*LINEAGE)
        assert left.count() == right.count() == inserted[entity]
        assert left.exceptAll(right).count() == 0 and right.exceptAll(left).count() == 0, entity
    assert_df_equality(on_cluster.read(tables.SILVER["customers"]).drop(*LINEAGE), on_local.read(tables.SILVER["customers"]).drop(*LINEAGE),
                       ignore_row_order=True)
    quarantine_cols = ["entity", "reason", "key", "raw"]
    assert_df_equality(on_cluster.read(tables.QUARANTINE).select(*quarantine_cols), on_local.read(tables.QUARANTINE).select(*quarantine_cols),
                       ignore_row_order=True)
