"""`pmkt serve` as users run it: the real CLI, uvicorn on loopback, answers checked against the gold tables."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.lake import Lake
from tests.conftest import ROOT, GeneratedLake, own_copy

TOKEN = "test-token-not-secret"
PII_KEYS = {"name", "email", "phone", "name_pseudo", "email_pseudo", "phone_pseudo"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, token: str | None = TOKEN, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method="GET" if body is None else "POST")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def served(modelled: GeneratedLake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GeneratedLake, Client]]:
    """A copy of the modelled lake behind `pmkt serve`, reloading every 0.2 s."""
    base = tmp_path_factory.mktemp("served")
    lake = own_copy(modelled, base)
    port = _free_port()
    log_file = (base / "serve.log").open("w")  # a file, not a pipe nobody reads while the server runs
    env = {**os.environ, "PMKT_API_KEY": TOKEN}
    args = ["--set", f"lake.root={lake.config.lake.root}", "--set", "serve.reload_seconds=0.2", "--port", str(port)]
    args += ["--set", f"stream.landing={_landing(lake)}"]
    server = subprocess.Popen(
        [sys.executable, "-m", "pmkt.jobs.cli", "serve", *args],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = Client(port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/health", token=None)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"pmkt serve did not start: {(base / 'serve.log').read_text()}")
            time.sleep(0.2)
        yield lake, client
    finally:
        server.terminate()
        server.wait(timeout=30)
        log_file.close()
        assert "@" not in (base / "serve.log").read_text()  # no email-like value in the server's log


def _landing(lake: GeneratedLake) -> Path:
    return Path(lake.config.lake.root).parent / "landing" / "events"


def _rows(spark: SparkSession, lake: GeneratedLake, table: tables.TableId) -> Any:
    return Lake(spark, lake.config.lake).read(table)


def _no_pii(value: Any) -> None:
    if isinstance(value, dict):
        assert not PII_KEYS & set(value), value
        for v in value.values():
            _no_pii(v)
    elif isinstance(value, list):
        for v in value:
            _no_pii(v)
    elif isinstance(value, str):
        assert "@" not in value, value


def test_recommendations_profile_and_similar_match_the_gold_tables(
    spark: SparkSession, served: tuple[GeneratedLake, Client]
) -> None:
    lake, client = served
    recs = _rows(spark, lake, tables.RECOMMENDATIONS)
    customer = recs.where(F.col("source") != "popular").orderBy("customer_id").first()["customer_id"]
    expected = [
        (r["rank"], r["product_id"], r["source"], r["reason"])
        for r in recs.where(F.col("customer_id") == customer).orderBy("rank").limit(3).collect()
    ]
    status, body = client.get(f"/customers/{customer}/recommendations?k=3")
    assert status == 200 and body["cold_start"] is False
    assert [(i["rank"], i["product_id"], i["source"], i["reason"]) for i in body["items"]] == expected
    _no_pii(body)

    status, body = client.get(f"/customers/{customer}/profile")
    assert status == 200
    churn = _rows(spark, lake, tables.CHURN_SCORES).where(F.col("customer_id") == customer).first()
    segment = _rows(spark, lake, tables.SEGMENTS).where(F.col("customer_id") == customer).first()
    assert body["churn"]["probability"] == pytest.approx(churn["probability"], abs=1e-12)
    assert body["churn"]["risk_band"] == churn["risk_band"]
    assert body["segment"]["segment_id"] == segment["segment_id"]
    categories = _rows(spark, lake, tables.PROPENSITY_SCORES).where(F.col("customer_id") == customer)
    assert sorted(p["category"] for p in body["propensities"]) == sorted(r["category"] for r in categories.collect())
    _no_pii(body)

    similar = _rows(spark, lake, tables.SIMILAR_ITEMS).where(F.col("method") == "itemcf")
    product = similar.orderBy("product_id").first()["product_id"]
    neighbours = [r["neighbour_id"] for r in similar.where(F.col("product_id") == product).orderBy("rank").collect()]
    status, body = client.get(f"/products/{product}/similar?k=2")
    assert status == 200 and [i["product_id"] for i in body["similar"]["itemcf"]] == neighbours[:2]


def test_errors_auth_and_limits(spark: SparkSession, served: tuple[GeneratedLake, Client]) -> None:
    lake, client = served
    customer = _rows(spark, lake, tables.RECOMMENDATIONS).orderBy("customer_id").first()["customer_id"]
    assert client.get(f"/customers/{customer}/recommendations", token=None)[0] == 401
    assert client.get(f"/customers/{customer}/recommendations", token="wrong")[0] == 401
    status, body = client.get("/customers/C-NOBODY/recommendations")
    assert status == 404 and "unknown customer" in body["error"]
    assert client.get("/customers/C-NOBODY/profile")[0] == 404
    assert client.get("/products/P-NOTHING/similar")[0] == 404
    assert client.get("/no/such/route") == (404, {"error": "Not Found"})
    for bad in ("k=0", "k=abc", "k=101", "k=-3"):
        status, body = client.get(f"/customers/{customer}/recommendations?{bad}")
        assert status == 422 and body["problems"][0]["field"] == "k", (bad, body)
    for malformed in ("bad%20id", "x%40example.com", "-leading-dash"):
        assert client.get(f"/customers/{malformed}/recommendations")[0] == 422, malformed
    status, body = client.get(f"/customers/{customer}/recommendations?k=100")
    assert status == 200 and len(body["items"]) <= 100


def test_a_table_update_is_served_without_restart_and_the_cold_start_list_fills_in(
    spark: SparkSession, served: tuple[GeneratedLake, Client]
) -> None:
    lake, client = served
    store = Lake(spark, lake.config.lake)
    customer = store.read(tables.RECOMMENDATIONS).orderBy(F.desc("customer_id")).first()["customer_id"]
    before = client.get("/health", token=None)[1]["tables"][str(tables.RECOMMENDATIONS)]
    assert client.get(f"/customers/{customer}/recommendations")[1]["cold_start"] is False
    # The customer's list disappears (as for a customer ingested after the last recommend run).
    DeltaTable.forPath(spark, store.location(tables.RECOMMENDATIONS)).delete(F.col("customer_id") == customer)
    deadline = time.monotonic() + 30
    while client.get("/health", token=None)[1]["tables"][str(tables.RECOMMENDATIONS)] == before:
        assert time.monotonic() < deadline, "the new table version was not picked up"
        time.sleep(0.2)
    status, body = client.get(f"/customers/{customer}/recommendations?k=4")
    popular = store.read(tables.POPULAR_ITEMS).orderBy("rank").limit(4).collect()
    assert status == 200 and body["cold_start"] is True
    assert [(i["rank"], i["product_id"], i["source"]) for i in body["items"]] == [
        (r["rank"], r["product_id"], "popular") for r in popular
    ]


def _serve_error(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pmkt.jobs.cli", "serve", "--set", f"lake.root={tmp_path}/lake", *args],
        cwd=ROOT,
        env={k: v for k, v in (env or os.environ).items() if k != "PMKT_API_KEY"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    return lines[0]


def test_serve_refuses_to_start_without_a_key_off_loopback_or_without_tables(tmp_path: Path) -> None:
    assert "no API key" in _serve_error(tmp_path)
    assert "loopback only" in _serve_error(tmp_path, "--insecure-local", "--host", "0.0.0.0")
    assert "gold.recommendations does not exist yet" in _serve_error(tmp_path, "--insecure-local")


def test_posted_events_land_whole_for_the_stream_and_bad_ones_are_refused(
    spark: SparkSession, served: tuple[GeneratedLake, Client]
) -> None:
    lake, client = served
    folder = _landing(lake)
    event = {"customer_id": "C0000001", "product_id": "P00001", "event_type": "view", "event_ts": "2026-04-02T10:00:00"}
    status, body = client.get("/events", body={"events": [event, {**event, "event_type": "add_to_cart"}]})
    assert status == 202 and body["accepted"] == 2
    landed = folder / body["file"]
    assert [json.loads(line) for line in landed.read_text().splitlines()] == [
        event,
        {**event, "event_type": "add_to_cart"},
    ]
    assert [p.name for p in folder.iterdir()] == [landed.name]  # no partial file left behind
    assert client.get("/events", token=None, body={"events": [event]})[0] == 401
    for bad in (
        {"events": []},
        {"events": [{**event, "email": "someone@example.com"}]},  # nothing personal lands by mistake
        {"events": [{**event, "customer_id": "bad id"}]},
        {"events": [{k: v for k, v in event.items() if k != "event_ts"}]},
        {"events": [event] * 1001},
    ):
        status, body = client.get("/events", body=bad)
        assert status == 422 and "someone@example.com" not in json.dumps(body), bad
    assert len(list(folder.iterdir())) == 1


def test_a_stream_refreshed_list_is_served_over_the_batch_list(
    spark: SparkSession, served: tuple[GeneratedLake, Client]
) -> None:
    lake, client = served
    store = Lake(spark, lake.config.lake)
    customer = store.read(tables.RECOMMENDATIONS).orderBy("customer_id").first()["customer_id"]
    before = client.get("/health", token=None)[1]["tables"][str(tables.RECOMMENDATIONS_LIVE)]
    items = [("P00007", 0.9), ("P00003", 0.5)]
    row = spark.createDataFrame(
        [(customer, [{"product_id": p, "score": s} for p, s in items], False, dt.datetime(2026, 4, 2), 1)],
        "customer_id string, items array<struct<product_id:string,score:double>>, new_customer boolean, "
        "as_of timestamp, model_version int",
    ).withColumn("folded_at", F.current_timestamp())
    store.write(row, tables.RECOMMENDATIONS_LIVE, mode="overwrite")
    deadline = time.monotonic() + 30
    while client.get("/health", token=None)[1]["tables"][str(tables.RECOMMENDATIONS_LIVE)] == before:
        assert time.monotonic() < deadline, "the live table was not picked up"
        time.sleep(0.2)
    status, body = client.get(f"/customers/{customer}/recommendations?k=5")
    assert status == 200 and body["fresh"] is True and body["cold_start"] is False
    assert [(i["rank"], i["product_id"], i["score"], i["source"]) for i in body["items"]] == [
        (1, "P00007", 0.9, "als_live"),
        (2, "P00003", 0.5, "als_live"),
    ]
