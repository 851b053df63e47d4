"""Latency of `pmkt serve` on a lake's tables: a bounded load of concurrent requests over loopback.

    .venv/bin/python -m benchmarks.serve_latency --lake lakehouse [--requests 20000] [--concurrency 8]

Starts the real server (`pmkt serve`, a separate process), waits for /health, then sends `--requests`
requests per endpoint from `--concurrency` client threads, each on its own keep-alive connection, to
random known customers. Prints p50/p95/p99 in milliseconds and requests per second per endpoint, and
writes benchmarks/results/serve-<date>-c<concurrency>.json. The client shares the machine's cores with the server, so
the figures include its cost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from deltalake import DeltaTable

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "benchmark-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(lake: str, port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "pmkt.jobs.cli", "serve", "--set", f"lake.root={lake}", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PMKT_API_KEY": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            con = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            con.request("GET", "/health")
            if con.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("pmkt serve did not start")


def _load(port: int, paths: list[str], concurrency: int) -> tuple[list[float], float]:
    """Latencies (ms) of every request, and the wall time of the whole load."""
    latencies: list[float] = []
    lock = threading.Lock()
    share = [paths[i::concurrency] for i in range(concurrency)]

    def client(mine: list[str]) -> None:
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        found = []
        for path in mine:
            start = time.perf_counter()
            con.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
            response = con.getresponse()
            response.read()
            found.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                raise SystemExit(f"{path}: HTTP {response.status}")
        with lock:
            latencies.extend(found)

    threads = [threading.Thread(target=client, args=(m,)) for m in share]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - start


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", default="lakehouse")
    parser.add_argument("--requests", type=int, default=20000, help="per endpoint")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    customers = DeltaTable(f"{args.lake}/gold/customer_index").to_pyarrow_table(columns=["customer_id"])
    ids = customers["customer_id"].to_pylist()  # the benchmark's own sample frame, not the product's code path
    rng = random.Random(args.seed)
    port = _free_port()
    start = time.perf_counter()
    server = _start(args.lake, port)
    startup = time.perf_counter() - start
    results: dict[str, dict[str, float]] = {}
    try:
        for name, template in (
            ("recommendations", "/customers/{}/recommendations?k=10"),
            ("profile", "/customers/{}/profile"),
        ):
            paths = [template.format(rng.choice(ids)) for _ in range(args.requests)]
            _load(port, paths[: min(500, len(paths))], args.concurrency)  # warm-up, not counted
            latencies, wall = _load(port, paths, args.concurrency)
            results[name] = {
                "p50_ms": _quantile(latencies, 0.50),
                "p95_ms": _quantile(latencies, 0.95),
                "p99_ms": _quantile(latencies, 0.99),
                "requests_per_second": len(latencies) / wall,
            }
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"lake {args.lake}: {len(ids):,} customers; server ready in {startup:.1f} s (tables loaded)")
    print(f"{args.requests:,} requests per endpoint, {args.concurrency} concurrent clients on loopback")
    print(f"{'endpoint':<16} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for name, r in results.items():
        print(
            f"{name:<16} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['requests_per_second']:>8.0f}"
        )
    out = ROOT / "benchmarks" / "results" / f"serve-{dt.date.today().isoformat()}-c{args.concurrency}.json"
    out.write_text(
        json.dumps(
            {
                "lake": args.lake,
                "customers": len(ids),
                "startup_seconds": startup,
                "requests": args.requests,
                "concurrency": args.concurrency,
                "endpoints": results,
            },
            indent=2,
        )
    )
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
