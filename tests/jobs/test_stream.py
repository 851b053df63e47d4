"""`pmkt stream` on a copy of the modelled lake: landed files through validation into silver, counters, triggers
and fresh recommendations checked against oracles computed here from the landed lines; then the same landing
killed with SIGKILL mid-batch and restarted, against a clean run."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.jobs import stream
from pmkt.libs import tables
from pmkt.libs.config import Config, load_config
from pmkt.libs.lake import Lake
from pmkt.libs.streaming import source
from pmkt.libs.synth import live
from tests.conftest import ROOT, GeneratedLake, own_copy

STREAM_DEMO = ROOT / "conf" / "stream-demo.yaml"
DEMO = load_config(STREAM_DEMO)  # the demo's triggers: a one-hour cart wait
CART_HOURS = next(r.hours for r in DEMO.campaign.triggers if r.kind == "cart_abandoned")
BAD_LINES = [
    "this is not json",
    json.dumps({"event_id": "BAD-TYPE", "customer_id": "C0000001", "event_type": "teleport", "event_ts": "{ts}"}),
    json.dumps(
        {
            "event_id": "BAD-PRODUCT",
            "customer_id": "C0000001",
            "product_id": "P-NONE",
            "event_type": "view",
            "event_ts": "{ts}",
        }
    ),
    json.dumps({"event_id": "BAD-TS", "customer_id": "C0000001", "event_type": "view", "event_ts": "yesterday"}),
]


@dataclass(frozen=True)
class Landed:
    lake: GeneratedLake
    config: Config
    landing: Path
    start: dt.datetime


def _stream_config(lake: GeneratedLake, landing: Path) -> Config:
    cfg = lake.config
    return replace(
        cfg,
        stream=replace(cfg.stream, landing=str(landing), once=True, max_files_per_trigger=1),
        campaign=replace(cfg.campaign, triggers=DEMO.campaign.triggers),
    )


def _land_day(spark: SparkSession, lake: GeneratedLake, landing: Path, seed: int) -> dt.datetime:
    """Two files of a generated day, then a third with one duplicate of a landed event and four bad lines."""
    store = Lake(spark, lake.config.lake)
    start = live.latest_event(store)
    files = live.land(live.day_of_events(store, start, 80, 6, seed), str(landing), 2, start)
    first = files[0].read_text().splitlines()[0]
    ts = (start + dt.timedelta(hours=23)).strftime("%Y-%m-%dT%H:%M:%S")
    extra = landing / "events-extra.json"
    extra.write_text("\n".join([first, *[b.replace("{ts}", ts) for b in BAD_LINES]]) + "\n")
    mtime = files[-1].stat().st_mtime + 1
    os.utime(extra, (mtime, mtime))
    return start


@pytest.fixture(scope="module")
def streamed(spark: SparkSession, modelled: GeneratedLake, tmp_path_factory: pytest.TempPathFactory) -> Landed:
    base = tmp_path_factory.mktemp("stream")
    lake = own_copy(modelled, base)
    landing = base / "landing"
    start = _land_day(spark, lake, landing, seed=11)
    config = _stream_config(lake, landing)
    stream.run(spark, config)
    return Landed(lake, config, landing, start)


def _landed_lines(landing: Path) -> list[str]:
    return [line for path in sorted(landing.glob("*.json")) for line in path.read_text().splitlines() if line.strip()]


def _valid_events(spark: SparkSession, landed: Landed) -> dict[str, dict[str, Any]]:
    """The oracle of what silver must gain: lines that parse, with a known type, product and a timestamp.

    Every collect in this module reads a test lake (600 customers, 200 products, a few hundred landed events)."""
    products = {
        r[0] for r in Lake(spark, landed.config.lake).read(tables.SILVER["products"]).select("product_id").collect()
    }
    found: dict[str, dict[str, Any]] = {}
    for line in _landed_lines(landed.landing):
        try:
            event = json.loads(line)
            event["ts"] = dt.datetime.strptime(event["event_ts"], "%Y-%m-%dT%H:%M:%S")
        except (json.JSONDecodeError, ValueError):
            continue
        known = event.get("product_id") is None or event["product_id"] in products
        if event["event_type"] in landed.config.ingest.event_types and known:
            found.setdefault(event["event_id"], event)
    return found


def _stream_rows(lake: Lake, table: tables.TableId) -> Any:
    return lake.read(table).where(F.col("_ingest_id").startswith("stream-"))


def test_landed_lines_reach_silver_or_quarantine_and_the_counts_add_up(spark: SparkSession, streamed: Landed) -> None:
    lake = Lake(spark, streamed.config.lake)
    valid = _valid_events(spark, streamed)
    silver = {r.event_id for r in _stream_rows(lake, tables.SILVER["events"]).select("event_id").collect()}
    assert silver == set(valid)
    quarantined = {(r.key, r.reason) for r in _stream_rows(lake, tables.QUARANTINE).collect()}
    assert quarantined == {
        (None, "malformed"),
        ("BAD-TYPE", "unknown_event_type"),
        ("BAD-PRODUCT", "unknown_product"),
        ("BAD-TS", "wrong_type"),
    }
    runs = lake.read(tables.INGEST_RUNS).where(F.col("ingest_id").startswith("stream-")).orderBy("ingest_id").collect()
    assert len(runs) == 3  # one per landed file
    assert sum(r.input for r in runs) == len(_landed_lines(streamed.landing))
    assert sum(r.inserted for r in runs) == len(valid)
    assert [(r.duplicates + r.unchanged, r.quarantined) for r in runs][-1] == (1, 4)  # the re-landed event
    for r in runs:
        assert r.input == r.inserted + r.updated + r.quarantined + r.duplicates + r.unchanged


def test_realtime_counters_equal_a_count_over_silver(spark: SparkSession, streamed: Landed) -> None:
    lake = Lake(spark, streamed.config.lake)
    valid = _valid_events(spark, streamed)
    clock = max(e["ts"] for e in valid.values())
    customers = {e["customer_id"] for e in valid.values()}
    history = lake.read(tables.SILVER["events"]).where(F.col("customer_id").isin(*customers))
    expected: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for r in history.select("customer_id", "event_type", "event_ts").collect():  # a few hundred customers
        row = expected[r.customer_id]
        row["last_seen"] = max(row.get("last_seen") or r.event_ts, r.event_ts)
        for window, hours in (("1h", 1), ("24h", 24)):
            if clock - dt.timedelta(hours=hours) < r.event_ts <= clock:
                row[f"events_{window}"] += 1
                kind = {"view": "views", "add_to_cart": "carts", "purchase": "purchases"}.get(r.event_type)
                if kind:
                    row[f"{kind}_{window}"] += 1
    got = {r.customer_id: r.asDict() for r in lake.read(tables.REALTIME_FEATURES).collect()}
    assert set(got) == customers
    columns = [f"{k}_{w}" for w in ("1h", "24h") for k in ("events", "views", "carts", "purchases")]
    for customer, row in got.items():
        assert row["as_of"] == clock
        assert {c: row[c] for c in columns} == {c: expected[customer][c] for c in columns}, customer
        assert row["last_seen"] == expected[customer]["last_seen"]


def test_abandoned_carts_fire_once_after_the_wait_for_consenting_customers(
    spark: SparkSession, streamed: Landed
) -> None:
    lake = Lake(spark, streamed.config.lake)
    valid = _valid_events(spark, streamed)
    watermark = max(e["ts"] for e in valid.values()) - dt.timedelta(minutes=streamed.config.stream.watermark_minutes)
    wait = dt.timedelta(hours=CART_HOURS)
    customers = {e["customer_id"] for e in valid.values()}
    bought = defaultdict(list)
    for r in (
        lake.read(tables.SILVER["events"])
        .where(F.col("customer_id").isin(*customers) & (F.col("event_type") == "purchase"))
        .collect()
    ):
        bought[r.customer_id].append(r.event_ts)
    consenting = {r.customer_id for r in lake.read(tables.SILVER["customers"]).where("consent").collect()}
    expected = {
        (e["customer_id"], e["ts"].date().isoformat())
        for e in valid.values()
        if e["event_type"] == "add_to_cart"
        and e["ts"] + wait <= watermark
        and not any(e["ts"] <= t <= e["ts"] + wait for t in bought[e["customer_id"]])
        and e["customer_id"] in consenting
    }
    cart_rule = next(r.name for r in DEMO.campaign.triggers if r.kind == "cart_abandoned")
    actions = lake.read(tables.ACTIONS).where(
        (F.col("rule") == cart_rule)
        & F.col("customer_id").isin(*customers)
        & (F.col("period") >= str(streamed.start.date()))
    )
    assert expected and {(r.customer_id, r.period) for r in actions.collect()} == expected


def test_new_customers_get_personal_recommendations_and_a_purchase_changes_the_list(
    spark: SparkSession, streamed: Landed
) -> None:
    lake = Lake(spark, streamed.config.lake)
    valid = _valid_events(spark, streamed)
    fresh = {r.customer_id: r for r in lake.read(tables.RECOMMENDATIONS_LIVE).collect()}
    popular = [r.product_id for r in lake.read(tables.POPULAR_ITEMS).orderBy("rank").limit(10).collect()]
    new = {e["customer_id"] for e in valid.values() if e["customer_id"].startswith(live.NEW_PREFIX)}
    assert len(new) == 6 and new <= set(fresh)
    lists = set()
    for customer in new:
        items = [x.product_id for x in fresh[customer]["items"]]
        seen = {e["product_id"] for e in valid.values() if e["customer_id"] == customer}
        assert fresh[customer]["new_customer"] and len(items) == streamed.config.stream.top_k
        assert not seen & set(items)  # exclude: seen
        assert items != popular
        lists.add(tuple(items))
    assert len(lists) == len(new)  # each list follows the customer's own events

    # A known customer buys their top item: the next micro-batch drops it and changes the list.
    buyers = {
        r.customer_id for r in lake.read(tables.SILVER["transactions"]).select("customer_id").distinct().collect()
    }
    known = sorted(c for c, r in fresh.items() if not r["new_customer"] and c in buyers)[0]
    top = fresh[known]["items"][0]["product_id"]
    when = (max(e["ts"] for e in valid.values()) + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    event = {"event_id": "BUY-1", "customer_id": known, "product_id": top, "event_type": "purchase", "event_ts": when}
    (streamed.landing / "events-buy.json").write_text(json.dumps(event) + "\n")
    stream.run(spark, streamed.config)
    after = lake.read(tables.RECOMMENDATIONS_LIVE).where(F.col("customer_id") == known).first()
    items = [x.product_id for x in after["items"]]
    assert top not in items and items != [x.product_id for x in fresh[known]["items"]]
    onboarding = lake.read(tables.ACTIONS).where((F.col("customer_id") == known) & (F.col("rule") == "onboarding"))
    assert onboarding.count() == 0  # a known buyer's purchase is not a first purchase


def test_a_delta_table_is_a_source_too(spark: SparkSession, streamed: Landed, tmp_path: Path) -> None:
    lake = Lake(spark, streamed.config.lake)
    when = (streamed.start + dt.timedelta(hours=23, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
    rows = [(f"DELTA-{i}", "C0000003", None, "view", when, "mobile", "d1") for i in range(3)]
    columns = "event_id string, customer_id string, product_id string, event_type string, event_ts string, "
    spark.createDataFrame(rows, columns + "device string, session_id string").write.format("delta").save(
        str(tmp_path / "source")
    )
    config = replace(
        streamed.config,
        stream=replace(
            streamed.config.stream, format="delta", landing=str(tmp_path / "source"), checkpoint=str(tmp_path / "cp")
        ),
    )
    stream.run(spark, config)
    got = lake.read(tables.SILVER["events"]).where(F.col("event_id").startswith("DELTA-"))
    assert sorted(r.event_id for r in got.collect()) == ["DELTA-0", "DELTA-1", "DELTA-2"]
    assert {r._ingest_id[:7] for r in got.collect()} == {"stream-"}


def test_csv_files_are_read_through_the_same_column_map(spark: SparkSession, streamed: Landed, tmp_path: Path) -> None:
    lake = Lake(spark, streamed.config.lake)
    when = (streamed.start + dt.timedelta(hours=23, minutes=40)).strftime("%Y-%m-%dT%H:%M:%S")
    folder = tmp_path / "csv"
    folder.mkdir()
    # Columns in another order than the conf's map, and one line with a field too many.
    (folder / "events.csv").write_text(
        "session_id,event_type,customer_id,event_id,event_ts,device,product_id\n"
        f"c1,view,C0000004,CSV-1,{when},mobile,\n"
        f"c1,view,C0000004,CSV-2,{when},mobile,\n"
        f"c1,view,C0000004,CSV-3,{when},mobile,,surplus\n"
    )
    config = replace(
        streamed.config,
        stream=replace(streamed.config.stream, format="csv", landing=str(folder), checkpoint=str(tmp_path / "cp")),
    )
    stream.run(spark, config)
    got = lake.read(tables.SILVER["events"]).where(F.col("event_id").startswith("CSV-"))
    assert sorted((r.event_id, r.customer_id, r.session_id) for r in got.collect()) == [
        ("CSV-1", "C0000004", "c1"),
        ("CSV-2", "C0000004", "c1"),
    ]
    bad = lake.read(tables.QUARANTINE).where(F.col("raw").contains("surplus"))
    assert [r.reason for r in bad.collect()] == ["malformed"]


# -- SIGKILL mid-batch, then a restart: the same tables as a clean run ------------------------------------------------

# The tables compared, without the columns that say when a row was written.
WRITTEN_AT = {
    tables.BRONZE["events"]: ["_ingested_at", "_ingest_id"],
    tables.QUARANTINE: ["quarantined_at", "_ingest_id"],
    tables.SILVER["events"]: ["_ingested_at", "_ingest_id"],
    tables.REALTIME_FEATURES: ["updated_at"],
    tables.ACTIONS: ["triggered_at"],
    tables.RECOMMENDATIONS_LIVE: ["folded_at"],
}


def _sets(lake: GeneratedLake, landing: Path) -> list[str]:
    """The overrides of `conf/stream-demo.yaml` that both the CLI run and the in-process run take."""
    sets = {
        "lake.root": lake.config.lake.root,
        "stream.landing": str(landing),
        "stream.max_files_per_trigger": 1,
        "spark.master": "local[2]",
        "spark.options.spark.sql.shuffle.partitions": 2,
        "spark.options.spark.ui.enabled": "false",
    }
    return [f"{k}={v}" for k, v in sets.items()]


def _cli(lake: GeneratedLake, landing: Path, log: Path) -> subprocess.Popen[str]:
    args = ["stream", "--once", "--conf-file", str(STREAM_DEMO), *[f"--set={s}" for s in _sets(lake, landing)]]
    return subprocess.Popen(
        [sys.executable, "-m", "pmkt.jobs.cli", *args],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )


def _in_process(spark: SparkSession, lake: GeneratedLake, landing: Path) -> None:
    """`pmkt stream --once` with the CLI run's config, in this test's session (no new JVM to start)."""
    stream.run(spark, load_config(STREAM_DEMO, [*_sets(lake, landing), "stream.once=true"]))


def _committed_batch(lake: GeneratedLake, table: tables.TableId, batch_id: int) -> bool:
    """Whether `table` has a commit with rows of the stream's micro-batch `batch_id` (their ingest id is in the
    added files' statistics)."""
    log = Path(table.path_under(lake.config.lake.root)) / "_delta_log"
    return any(f"-{batch_id:09d}" in commit.read_text() for commit in log.glob("*.json"))


def _snapshot(spark: SparkSession, lake: GeneratedLake) -> dict[str, list[str]]:
    """Each table's rows (the stream's, where the table also holds batch rows) as sorted JSON: a row written twice
    shows up twice."""
    store = Lake(spark, lake.config.lake)
    out = {}
    for table, dropped in WRITTEN_AT.items():
        df = store.read(table)
        if "_ingest_id" in df.columns:
            df = df.where(F.col("_ingest_id").startswith("stream-"))
        df = df.drop(*dropped)
        if table == tables.RECOMMENDATIONS_LIVE:  # scores to 5 decimals: sums of floats in another order
            rounded = F.transform("items", lambda x: F.struct(x["product_id"], F.round(x["score"], 5)))
            df = df.withColumn("items", rounded)
        out[str(table)] = sorted(
            json.dumps(r.asDict(recursive=True), default=str, sort_keys=True) for r in df.collect()
        )
    runs = store.read(tables.INGEST_RUNS).where(F.col("ingest_id").startswith("stream-"))
    out["runs"] = sorted(
        json.dumps([r.ingest_id[-9:], r.files, r.input, r.inserted, r.quarantined, r.duplicates, r.unchanged])
        for r in runs.collect()
    )
    return out


def test_a_stream_killed_mid_batch_and_restarted_writes_what_a_clean_run_writes(
    spark: SparkSession, modelled: GeneratedLake, tmp_path: Path
) -> None:
    clean, killed = own_copy(modelled, tmp_path / "clean"), own_copy(modelled, tmp_path / "killed")
    landing = tmp_path / "landing"
    _land_day(spark, clean, landing, seed=12)
    _in_process(spark, clean, landing)

    # Only the run to kill needs a process of its own; the clean run and the restart share the same config.
    run = _cli(killed, landing, tmp_path / "killed.log")
    deadline = time.monotonic() + 600
    # Killed right after batch 1's bronze append: its silver MERGE, counters, triggers and fold-in are still to come.
    while not _committed_batch(killed, tables.BRONZE["events"], 1):
        assert run.poll() is None and time.monotonic() < deadline, (tmp_path / "killed.log").read_text()
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    checkpoint = Path(source.checkpoint(killed.config))
    assert not (checkpoint / "commits" / "1").exists()  # the batch was cut short
    _in_process(spark, killed, landing)

    want, got = _snapshot(spark, clean), _snapshot(spark, killed)
    for name in want:
        assert got[name] == want[name], name
    assert len(want[str(tables.SILVER["events"])]) > 100 and len(want[str(tables.ACTIONS)]) > 0
