"""The pipeline's cost curve: every step at 1x, 3x and 10x of the demo world, with a 2 GiB driver.

    make benchmark-scale                                   # 1x, 3x and 10x
    .venv/bin/python -m benchmarks.scale --factors 1      # one scale only

Each scale factor runs in its own process (`spark.driver.memory` is fixed when the JVM starts), in local
mode, where the driver is also the executor. 1x is the demo world: 12,000 customers. Per step it records
the wall time and, from Spark's own event log (not guesses), the records read and written, shuffle bytes,
bytes spilled and the peak JVM heap of the stages the step ran. Writes `benchmarks/results/scale-<date>.json`
and prints a markdown table with the growth ratio time(Nx) / time(1x) per step and in total.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import peers

ROOT = Path(__file__).resolve().parent.parent
DEMO_CUSTOMERS = 12_000
ENTITIES = ("products", "customers", "campaigns", "events", "transactions", "campaign_contacts")
# Stage metrics summed per step, as the event log names them.
SUMMED = {
    "records_read": "internal.metrics.input.recordsRead",
    "records_written": "internal.metrics.output.recordsWritten",
    "shuffle_read_bytes": "internal.metrics.shuffle.read.remoteBytesRead",
    "shuffle_local_read_bytes": "internal.metrics.shuffle.read.localBytesRead",
    "shuffle_write_bytes": "internal.metrics.shuffle.write.bytesWritten",
    "spill_memory_bytes": "internal.metrics.memoryBytesSpilled",
    "spill_disk_bytes": "internal.metrics.diskBytesSpilled",
}


def run_one(factor: float, work: Path, out: Path, driver_memory: str, repeats: int) -> None:
    """The whole pipeline at one scale, in this process, then the single-node peers on its lake (`repeats`
    runs each, 0: none); per-step figures and the pairs to `out` (JSON)."""
    from pmkt.jobs.pipeline import run_step
    from pmkt.libs import tables
    from pmkt.libs.config import load_config
    from pmkt.libs.lake import Lake, count_rows
    from pmkt.libs.session import get_spark

    if work.exists():  # a scale run starts from nothing: an old lake would turn first loads into merges
        shutil.rmtree(work)
    events_dir = work / "eventlog"
    events_dir.mkdir(parents=True, exist_ok=True)
    sets = {
        "lake.root": str(work / "lake"),
        "generate.landing": str(work / "landing"),
        "generate.customers": int(DEMO_CUSTOMERS * factor),
        "spark.master": "local[*]",
        "spark.options.spark.driver.memory": driver_memory,
        "spark.options.spark.eventLog.enabled": "true",
        "spark.options.spark.eventLog.dir": str(events_dir),
        "spark.options.spark.eventLog.compress": "false",
        "spark.options.spark.eventLog.logStageExecutorMetrics": "true",
        **{f"ingest.sources.{e}.path": str(work / "landing" / e) for e in ENTITIES},
    }
    config = load_config(ROOT / "conf" / "local.yaml", [f"{k}={v}" for k, v in sets.items()])
    spark = get_spark(config)
    sc = spark.sparkContext
    steps: list[dict[str, Any]] = []
    for step in config.pipeline.steps:
        start_ms, start = int(time.time() * 1000), time.perf_counter()
        run_step(spark, config, step, [])  # in the step's job group, as in `pmkt pipeline`; listed steps never skip
        steps.append(
            {
                "step": step,
                "seconds": round(time.perf_counter() - start, 2),
                "start_ms": start_ms,
                "end_ms": int(time.time() * 1000),
            }
        )
        print(f"[{factor:g}x] {step}: {steps[-1]['seconds']:.1f}s", flush=True)
    sc.setJobGroup("sizes", "benchmark sizes")
    lake = Lake(spark, config.lake)
    sizes = {
        str(t): count_rows(lake, t)
        for t in (
            tables.SILVER["customers"],
            tables.SILVER["events"],
            tables.SILVER["transactions"],
            tables.SILVER["campaign_contacts"],
        )
    }
    peer_results = peers.measure(spark, config, work / "peers", repeats) if repeats else []
    spark.stop()
    per_step = _event_log_metrics(events_dir, steps)
    for s in steps:
        s.update(per_step.get(s["step"], {}))
    out.write_text(
        json.dumps(
            {
                "factor": factor,
                "customers": int(DEMO_CUSTOMERS * factor),
                "rows": sizes,
                "driver_memory": driver_memory,
                "steps": steps,
                "peers": peer_results,
                "total_seconds": round(sum(s["seconds"] for s in steps), 2),
            },
            indent=1,
        )
    )


def _event_log_metrics(events_dir: Path, steps: list[dict]) -> dict[str, dict]:
    """Stage metrics of each step's jobs (by job group, else by submission time), from the event log."""
    files = _event_files(events_dir)
    stage_step: dict[int, str | None] = {}
    stage_metrics: dict[int, dict[str, int]] = {}
    heap: defaultdict[int, int] = defaultdict(int)

    def step_at(ms: int) -> str | None:
        return next((s["step"] for s in steps if s["start_ms"] <= ms <= s["end_ms"]), None)

    for line in _lines(files):  # streamed: the log grows with the number of stages, not the data
        event = json.loads(line)
        kind = event.get("Event")
        if kind == "SparkListenerJobStart":
            group = (event.get("Properties") or {}).get("spark.jobGroup.id") or step_at(event["Submission Time"])
            for stage in event["Stage IDs"]:
                stage_step[stage] = group
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            values = {a["Name"]: a.get("Value", 0) for a in info.get("Accumulables", [])}
            stage_metrics[info["Stage ID"]] = {k: int(values.get(name, 0) or 0) for k, name in SUMMED.items()}
        elif kind == "SparkListenerStageExecutorMetrics":
            stage = event["Stage ID"]
            heap[stage] = max(heap[stage], int(event["Executor Metrics"].get("JVMHeapMemory", 0)))
    out: dict[str, dict] = {}
    for stage, metrics in stage_metrics.items():
        step = stage_step.get(stage)
        if step is None:
            continue
        totals = out.setdefault(step, {k: 0 for k in SUMMED} | {"peak_heap_bytes": 0, "stages": 0})
        for k, v in metrics.items():
            totals[k] += v
        totals["peak_heap_bytes"] = max(totals["peak_heap_bytes"], heap.get(stage, 0))
        totals["stages"] += 1
    return out


def _event_files(events_dir: Path) -> list[str]:
    """The event log's files in order: one file, or a rolling log's folder of events_<n>_<app> parts."""
    [entry] = glob.glob(str(events_dir / "*"))
    if not os.path.isdir(entry):
        return [entry]
    parts = glob.glob(os.path.join(entry, "events_*"))
    return sorted(parts, key=lambda p: int(os.path.basename(p).split("_")[1]))


def _lines(files: list[str]) -> Iterator[str]:
    for name in files:
        with open(name) as f:
            yield from f


def table(results: list[dict]) -> str:
    """Markdown: one row per step, seconds and peak heap at each scale, and the growth ratio against 1x."""
    base = results[0]
    head = [
        "step",
        *[f"{r['factor']:g}x s" for r in results],
        *[f"{r['factor']:g}x / {base['factor']:g}x" for r in results[1:]],
        *[f"{r['factor']:g}x heap MiB" for r in results],
        *[f"{r['factor']:g}x spill MiB" for r in results],
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = [s["step"] for s in base["steps"]]
    by = [{s["step"]: s for s in r["steps"]} for r in results]

    def secs(name: str, i: int) -> float:
        return results[i]["total_seconds"] if name == "total" else by[i][name]["seconds"]

    def mib(name: str, i: int, key: str) -> str:
        if name == "total":
            values = [s.get(key, 0) for s in results[i]["steps"]]
            value = max(values) if key == "peak_heap_bytes" else sum(values)
        else:
            value = by[i][name].get(key, 0)
        if key == "peak_heap_bytes" and not value:
            return "–"  # no sample: the heap is sampled with the executor heartbeat (every 10 s)
        return f"{value / 2**20:,.0f}"

    for name in [*names, "total"]:
        cells = [
            name,
            *[f"{secs(name, i):,.1f}" for i in range(len(results))],
            *[f"{secs(name, i) / secs(name, 0):.2f}" for i in range(1, len(results))],
            *[mib(name, i, "peak_heap_bytes") for i in range(len(results))],
            *[mib(name, i, "spill_disk_bytes") for i in range(len(results))],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=float, nargs="+", default=[1, 3, 10])
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--work", help="scratch folder (default: a new temporary one)")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--peer-repeats", type=int, default=3, help="runs per single-node peer pair (0: no peers)")
    parser.add_argument("--run-one", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="pmkt-scale-"))
    if args.run_one is not None:
        run_one(args.run_one, work, Path(args.json), args.driver_memory, args.peer_repeats)
        return 0
    results = []
    for factor in args.factors:
        out = work / f"x{factor:g}.json"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.scale",
            "--run-one",
            str(factor),
            "--json",
            str(out),
            "--work",
            str(work / f"x{factor:g}"),
            "--driver-memory",
            args.driver_memory,
            "--peer-repeats",
            str(args.peer_repeats),
        ]
        done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if done.returncode != 0:
            print(f"scale {factor:g}x failed (exit {done.returncode}): that is the finding", file=sys.stderr)
            return 1
        results.append(json.loads(out.read_text()))
    Path(args.results).mkdir(parents=True, exist_ok=True)
    target = Path(args.results) / f"scale-{dt.date.today().isoformat()}.json"
    target.write_text(
        json.dumps({"driver_memory": args.driver_memory, "cores": os.cpu_count(), "runs": results}, indent=1)
    )
    print(
        f"\n{table(results)}\n\nrows: "
        + "; ".join(f"{r['factor']:g}x " + ", ".join(f"{k} {v:,}" for k, v in r["rows"].items()) for r in results)
    )
    if all(r.get("peers") for r in results):
        print("\n" + peers.table({f"{r['factor']:g}x": r["peers"] for r in results}))
    print(f"results: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
