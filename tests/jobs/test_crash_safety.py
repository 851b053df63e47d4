"""A job killed (SIGKILL) after any commit converges on re-run to the tables of an uninterrupted run;
two ingests at once on one lake neither corrupt nor double anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pmkt.jobs import ingest, segment
from pmkt.libs import models, tables
from pmkt.libs.config import Config, load_config
from pmkt.libs.lake import FAILPOINT, Lake
from pmkt.libs.lock import lake_lock
from tests.conftest import ROOT, GeneratedLake, own_copy

CUSTOMERS = """customer_id,name,email,city,birth_date
C1,Ann Lee,ann@example.org,Leeds,1980-01-02
C2,Bo Chan,bo@example.org,York,1975-05-06
C3,Cy Dee,cy@example.org,Bath,not a date
C1,Ann Lee,ann@example.org,Hull,1980-01-02
"""
ORDERS = """order_id,line_id,customer_id,order_ts,product_id,quantity,unit_price
O1,1,C1,2024-05-01 10:00:00,P1,1,10.0
O1,2,C1,2024-05-01 10:00:00,P2,2,5.5
O2,1,C2,2024-05-02 10:00:00,P1,1,10.0
O3,1,C9,2024-05-03 10:00:00,P1,-1,10.0
"""
# Volatile by nature: ids and clocks of the run that wrote the row, and where each test's landing folder is.
VOLATILE = {
    "_ingest_id",
    "_ingested_at",
    "quarantined_at",
    "finished_at",
    "ingest_id",
    "_line",
    "_source_file",
    "_file_mtime",
}
INGEST_TABLES = (
    tables.BRONZE["customers"],
    tables.BRONZE["transactions"],
    tables.SILVER["customers"],
    tables.SILVER["transactions"],
    tables.QUARANTINE,
    tables.INGESTED_FILES,
)


def _conf(tmp_path: Path, customers: Path, orders: Path) -> Path:
    conf = tmp_path / "crash.yaml"
    conf.write_text(f"""lake:
  root: {tmp_path / "lake"}
spark:
  master: local[1]
ingest:
  check_references: false
  sources:
    customers:
      path: {customers}
      columns: {{customer_id: customer_id, name: name, email: email, city: city, birth_date: birth_date}}
    transactions:
      path: {orders}
      columns: {{order_id: order_id, line_id: line_id, customer_id: customer_id, order_ts: order_ts,
                 product_id: product_id, quantity: quantity, unit_price: unit_price}}
""")
    return conf


def _landing(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "customers").mkdir()
    (tmp_path / "orders").mkdir()
    (tmp_path / "customers" / "c.csv").write_text(CUSTOMERS)
    (tmp_path / "orders" / "o.csv").write_text(ORDERS)
    return tmp_path / "customers", tmp_path / "orders"


def _cli(
    job: str, conf: Path, kill_after: str | None = None, *extra: str, stderr: Path | None = None
) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(FAILPOINT, None)
    if kill_after:
        env[FAILPOINT] = kill_after
    err = stderr.open("w") if stderr else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", f"pmkt.jobs.{job}", "--conf-file", str(conf), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )


def _snapshot(spark: SparkSession, config: Config, names: tuple) -> dict[str, list]:
    """Every row of every table, volatile columns dropped, sorted (tiny tables)."""
    lake = Lake(spark, config.lake)
    out = {}
    for table in names:
        df = lake.read(table)
        df = df.select(*[c for c in df.columns if c not in VOLATILE])
        out[str(table)] = sorted(tuple(str(v) for v in r) for r in df.collect())
    runs = lake.read(tables.INGEST_RUNS).collect()
    # A re-run finds the crashed run's silver rows already there: they count as unchanged, not inserted.
    out["runs"] = sorted(
        (r.entity, r.files, r.input, r.quarantined, r.duplicates, r.inserted + r.updated + r.unchanged) for r in runs
    )
    return out


@pytest.fixture(scope="module")
def clean(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    tmp_path = tmp_path_factory.mktemp("clean")
    config = load_config(_conf(tmp_path, *_landing(tmp_path)))
    ingest.run(spark, config)
    return _snapshot(spark, config, INGEST_TABLES)


@pytest.mark.parametrize(
    "kill_after",
    [
        "bronze.customers",  # bronze appended, nothing else
        "silver.quarantine",  # customers' quarantine appended
        "silver.customers",  # customers written into silver (the first load appends to a new table)
        "bronze.ingest_runs",  # reported, files not yet recorded
        "silver.order_lines",  # second entity written
    ],
)
def test_ingest_killed_after_a_commit_converges_on_rerun(
    spark: SparkSession, tmp_path: Path, clean: dict, kill_after: str
) -> None:
    conf = _conf(tmp_path, *_landing(tmp_path))
    killed = _cli("ingest", conf, kill_after)
    killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL
    if kill_after == "bronze.customers":  # once through the CLI's entry point: its lock was left by a dead process
        assert ingest.main(["--conf-file", str(conf)]) == 0
    else:
        ingest.run(spark, load_config(conf))
    assert _snapshot(spark, load_config(conf), INGEST_TABLES) == clean


def test_two_ingests_at_once_are_serialised(spark: SparkSession, tmp_path: Path) -> None:
    first, orders = _landing(tmp_path)
    second = tmp_path / "more_customers"
    second.mkdir()
    (second / "c2.csv").write_text("customer_id,name,email,city,birth_date\nC7,Di Eve,di@example.org,Ely,1990-01-01\n")
    conf_a = _conf(tmp_path, first, orders)
    conf_b = tmp_path / "b.yaml"
    conf_b.write_text(conf_a.read_text().replace(str(first), str(second)))
    lake = Lake(spark, load_config(conf_a).lake)
    # This test holds the lock until both have started and found the lake busy; then they meet each other.
    logs = [tmp_path / "a.err", tmp_path / "b.err"]
    with lake_lock(lake, "test", wait_seconds=0):
        runs = [_cli("ingest", conf_a, stderr=logs[0]), _cli("ingest", conf_b, stderr=logs[1])]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not all("waiting for `test`" in f.read_text() for f in logs):
            time.sleep(1)
    for run in runs:
        run.communicate(timeout=900)
    errors = [f.read_text() for f in logs]
    assert [r.returncode for r in runs] == [0, 0], [e[-2000:] for e in errors]
    assert all("waiting for `test`" in e for e in errors)
    assert lake.read(tables.BRONZE["customers"]).count() == 5  # 4 + 1 lines, none twice
    assert lake.read(tables.BRONZE["transactions"]).count() == 4  # both runs saw the orders file: read once
    assert sorted(r.customer_id for r in lake.read(tables.SILVER["customers"]).collect()) == ["C1", "C2", "C7"]
    assert lake.read(tables.INGESTED_FILES).count() == 3
    assert lake.read(tables.LAKE_LOCK).count() == 0  # released


def test_a_busy_lake_fails_with_one_line_after_the_wait(spark: SparkSession, tmp_path: Path) -> None:
    conf = _conf(tmp_path, *_landing(tmp_path))
    lake = Lake(spark, load_config(conf).lake)
    with lake_lock(lake, "segment", wait_seconds=0):
        busy = _cli("ingest", conf, None, "--set", "lake.lock_wait_seconds=1")
        _, err = busy.communicate(timeout=600)
    assert busy.returncode == 2
    [line] = [x for x in err.splitlines() if x.startswith("pmkt ingest: error:")]
    assert f"is in use by `segment` (pid {os.getpid()}" in line
    assert not lake.exists(tables.BRONZE["customers"])


GOLD_TABLES = (
    tables.SEGMENTS,
    tables.SEGMENT_PROFILES,
    tables.SEGMENT_K_SELECTION,
    tables.MODEL_METRICS,
)
# MLflow never reuses a version number, not even a deleted one's: after a killed fit the re-run's is one higher.
GOLD_VOLATILE = {"run_id", "created_at", "model_version"}


@pytest.fixture(scope="module")
def segmented(spark: SparkSession, c360: GeneratedLake, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What an uninterrupted `segment` (fit) run gives on a copy of the Customer 360 lake."""
    config = _copy_lake(c360, tmp_path_factory.mktemp("segment-clean"))
    segment.run(spark, config)
    return _gold(spark, config)


@pytest.mark.parametrize(
    "kill_after",
    [
        "mlflow.pmkt_segment",  # metrics appended and the model registered; no segments written yet
        "gold.segments",  # segments written; profiles not
    ],
)
def test_model_job_killed_mid_run_converges(
    spark: SparkSession, c360: GeneratedLake, segmented: dict, tmp_path: Path, kill_after: str
) -> None:
    config = _copy_lake(c360, tmp_path)
    killed = _cli("segment", tmp_path / "gold.yaml", kill_after)
    killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL
    segment.run(spark, config)
    assert _gold(spark, config) == segmented
    # The killed run's version, if it registered one, is gone; the re-run's holds the alias scoring loads.
    live = [v for v in models.versions(config) if v.name == "pmkt_segment"]
    assert len(live) == segmented["versions"]
    assert live[-1].aliases == ("champion",) and all(not v.aliases for v in live[:-1])
    assert models.load(config, segment.MODEL)[2] == live[-1].version


def _copy_lake(c360: GeneratedLake, tmp_path: Path) -> Config:
    lake_dir = own_copy(c360, tmp_path).config.lake.root
    conf = tmp_path / "gold.yaml"
    conf.write_text(
        f"extends: {ROOT / 'conf' / 'local.yaml'}\nlake:\n  root: {lake_dir}\nspark:\n  master: local[1]\n"
        "segment:\n  mode: fit\n"
    )
    return load_config(conf)


def _gold(spark: SparkSession, config: Config) -> dict:
    """Every row of the tables `segment` writes; run ids, clocks and the lake's own path left out."""
    lake, root = Lake(spark, config.lake), config.lake.root
    out = {}
    for table in GOLD_TABLES:
        df = lake.read(table)
        rows = df.select(*[c for c in df.columns if c not in GOLD_VOLATILE]).collect()
        out[str(table)] = sorted(tuple(str(v).replace(root, "<lake>") for v in r) for r in rows)
    out["versions"] = len([v for v in models.versions(config) if v.name == "pmkt_segment"])
    return out
