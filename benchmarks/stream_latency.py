"""`make stream-demo`: a day of new events through `pmkt stream`, with event-to-output latency.

    .venv/bin/python -m benchmarks.stream_latency [--conf-file conf/stream-demo.yaml] [--sessions 2000] [--files 4]

Generates a day of browsing sessions after the lake's latest event (known customers and some new ones, with
Spark), starts the real stream (`pmkt stream`, a separate process, a micro-batch every --trigger-seconds),
then drops the day into the landing folder one file at a time, each once the stream has finished the one
before. Prints the triggers and the changed recommendations, and the latency from a file landing to the
output rows it caused (a trigger in `gold.actions`, a fresh list in `gold.recommendations_live`): p50 and max
over the day's files. Writes benchmarks/results/stream-<date>.json. Stops the stream when done.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _stage(args: argparse.Namespace, staging: Path) -> tuple[list[Path], dt.datetime]:
    """Generate the day's files into `staging` with Spark (stopped before the stream starts)."""
    from pmkt.libs.config import load_config
    from pmkt.libs.lake import Lake
    from pmkt.libs.session import get_spark
    from pmkt.libs.synth import live

    config = load_config(args.conf_file, args.overrides)
    spark = get_spark(config)
    try:
        lake = Lake(spark, config.lake)
        start = live.latest_event(lake)
        seed = int(start.timestamp()) % 1_000_000  # a new day gets new event ids
        events = live.day_of_events(lake, start, args.sessions, args.new_customers, seed)
        return live.land(events, str(staging), args.files, start), start
    finally:
        spark.stop()


def _commits(checkpoint: Path) -> int:
    folder = checkpoint / "commits"
    return len([p for p in folder.iterdir() if p.name.isdigit()]) if folder.is_dir() else 0


def _run(args: argparse.Namespace) -> dict[str, object]:
    from pmkt.libs.config import load_config
    from pmkt.libs.streaming import source

    config = load_config(args.conf_file, args.overrides)
    landing = Path(config.stream.landing)
    checkpoint = Path(source.checkpoint(config))
    staging = landing.parent / f".{landing.name}-demo"
    files, start = _stage(args, staging)
    began = dt.datetime.now(dt.timezone.utc)
    log_path = ROOT / "build" / "stream-demo.log"
    log_path.parent.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "pmkt.jobs.cli", "stream", "--conf-file", args.conf_file]
    cmd += [f"--set={o}" for o in args.overrides] + ["--trigger-seconds", str(args.trigger_seconds)]
    with log_path.open("w") as log:
        stream = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        landed: list[tuple[str, dt.datetime]] = []
        try:
            for path in files:
                done = _commits(checkpoint)
                target = landing / path.name
                landing.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
                landed.append((target.name, dt.datetime.now(dt.timezone.utc)))
                print(f"landed {target.name}", flush=True)
                while _commits(checkpoint) <= done:
                    if stream.poll() is not None:
                        raise SystemExit(f"pmkt stream stopped (exit {stream.returncode}); see {log_path}")
                    time.sleep(0.2)
        finally:
            stream.send_signal(signal.SIGINT)
            try:
                stream.wait(timeout=120)
            except subprocess.TimeoutExpired:
                stream.kill()
    return _report(config.lake.root, landed, began, start)


def _report(
    root: str, landed: list[tuple[str, dt.datetime]], began: dt.datetime, start: dt.datetime
) -> dict[str, object]:
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    def rows(table: str, column: str) -> list[dict[str, Any]]:
        path = f"{root}/{table}"
        if not DeltaTable.is_deltatable(path):
            return []
        data = DeltaTable(path).to_pyarrow_table()
        return data.filter(pc.greater_equal(data[column], began)).to_pylist()  # this run's rows: bounded by a day

    def latency(written: list[dt.datetime]) -> dict[str, float | None]:
        # From the landing of the newest file before a row was written (the batch that wrote it) to the row.
        waits = []
        for when in written:
            before = [t for _, t in landed if t <= when]
            if before:
                waits.append((when - before[-1]).total_seconds())
        return {
            "p50_s": statistics.median(waits) if waits else None,
            "max_s": max(waits) if waits else None,
            "rows": len(waits),
        }

    actions = rows("gold/actions", "triggered_at")
    fresh = rows("gold/recommendations_live", "folded_at")
    print(f"\n{len(actions)} triggers fired on the day from {start:%Y-%m-%d %H:%M}:")
    by_rule: dict[str, int] = {}
    for a in actions:
        by_rule[str(a["rule"])] = by_rule.get(str(a["rule"]), 0) + 1
    for rule, n in sorted(by_rule.items()):
        print(f"  {rule:<14} {n:>5}")
    for a in sorted(actions, key=lambda r: (str(r["rule"]), str(r["customer_id"])))[:8]:
        print(f"  {a['rule']:<14} {a['customer_id']:<12} {a['action']}: {a['detail']}")
    new = [r for r in fresh if r["new_customer"]]
    print(f"\n{len(fresh)} customers got fresh recommendations ({len(new)} not in the ALS model's training data):")
    unseen = sorted((r for r in fresh if str(r["customer_id"]).startswith("N")), key=lambda r: str(r["customer_id"]))
    known = sorted((r for r in fresh if not r["new_customer"]), key=lambda r: str(r["customer_id"]))
    for r in unseen[:4] + known[:4]:
        top = ", ".join(str(x["product_id"]) for x in r["items"][:5])
        print(f"  {r['customer_id']:<12} {'new to the lake' if r in unseen else 'known':<16} {top}")
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "files": len(landed),
        "triggers": by_rule,
        "fresh_recommendations": len(fresh),
        "new_customers": len(new),
        "event_to_trigger": latency([a["triggered_at"] for a in actions]),
        "event_to_fresh_recommendation": latency([r["folded_at"] for r in fresh]),
    }
    t, f = result["event_to_trigger"], result["event_to_fresh_recommendation"]
    for name, figures in (("trigger", t), ("fresh recommendations", f)):
        if figures["p50_s"] is not None:
            print(f"landing to {name} written: p50 {figures['p50_s']:.1f} s, max {figures['max_s']:.1f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf-file", default="conf/stream-demo.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--new-customers", type=int, default=50)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--trigger-seconds", type=float, default=2.0)
    args = parser.parse_args()
    result = _run(args)
    out = ROOT / "benchmarks" / "results" / f"stream-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
