"""The whole pipeline through spark-submit.sh on a standalone cluster against the same run in local mode.

    make benchmark-cluster                       # 1x: the demo world, 12,000 customers
    .venv/bin/python -m benchmarks.cluster_pipeline --customers 3000

A master and two 1-core workers start on 127.0.0.1 (only they are stopped afterwards). Every pipeline step
is submitted on its own, as a scheduler would, first to the cluster and then with `--master local[2]`, each
into its own lake with the same seed and PII key. Then the deterministic outputs must be equal:
- silver, every entity, row for row (lineage columns aside: they name the run);
- gold features, profiles, frequent itemsets and association rules, with doubles equal to 1e-9 relative
  (sums over differently partitioned data add in a different order);
- model metrics within `TOLERANCE`, and counts (test-set sizes, base rates, k) exactly.
Prints per-step seconds on both, the differences found, and exits 1 if any is out of bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.standalone import cluster

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ROOT = Path(__file__).resolve().parent.parent

KEY = "cluster-benchmark-pii-key"
ENTITIES = ("products", "customers", "campaigns", "events", "transactions", "campaign_contacts")
# Model metrics are fits of seeded estimators whose random draws are made per partition: the cluster has
# 2 task slots and the local run 2 cores, but partition counts still follow the input files and AQE.
# ALS's initial factors are drawn per block, KMeans|| samples per partition and GBT bins from a sample,
# so their metrics move by a few thousandths between layouts; 0.02 is several times what reruns on
# different partitionings show and far below the gaps the planted-truth tests guard (e.g. AUC 0.5 vs 0.8).
TOLERANCE = 0.02
# Columns that name the run, its files or its inputs' versions (when, which file, size, mtime), not the data.
RUN_STAMPS = ("quarantined_at", "generated_at", "created_at", "_file_size", "_file_mtime", "_built_from")
EXACT_METRICS = (
    "test_customers",
    "test_pairs",
    "underpowered",
    "base_rate",
    "baskets",
    "rules",
    "min_support_requested",
    "min_support_used",
)


def submit(master: str, step: str, sets: dict[str, object], log: Path) -> float:
    """One step through spark-submit.sh; its wall seconds. A failed step stops the benchmark."""
    args = [str(ROOT / "spark-submit.sh"), "--master", master]
    if master.startswith("spark://"):
        args += ["--executor-memory", "1536m"]
    args += [step, "--conf-file", str(ROOT / "conf" / "local.yaml")]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    env = {**os.environ, "PMKT_PII_KEY": KEY, "SPARK_LOCAL_IP": "127.0.0.1"}
    start = time.perf_counter()
    with open(log, "a") as out:
        done = subprocess.run(args, check=False, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{step} on {master} failed (exit {done.returncode}); see {log}")
    return round(time.perf_counter() - start, 1)


def run_pipeline(master: str, base: Path, customers: int, steps: list[str]) -> dict[str, float]:
    sets = {
        "lake.root": base / "lake",
        "generate.landing": base / "landing",
        "spark.checkpoint_dir": base / "checkpoints",
        "generate.customers": customers,
        **{f"ingest.sources.{e}.path": base / "landing" / e for e in ENTITIES},
    }
    base.mkdir(parents=True, exist_ok=True)
    seconds = {}
    for step in steps:
        seconds[step] = submit(master, step, sets, base / "submit.log")
        print(f"{master:>24} {step:<11} {seconds[step]:7.1f}s", flush=True)
    (base / "seconds.json").write_text(json.dumps(seconds))
    return seconds


def differences(left: DataFrame, right: DataFrame, keys: list[str], rel_tol: float) -> dict[str, int]:
    """Rows per column where two tables disagree, after a keyed full outer join (one pass, one row back)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from pmkt.libs.frames import one

    cols = [c for c in left.columns if c not in keys]
    a = left.select(*keys, *[F.col(c).alias(f"a_{c}") for c in cols], F.lit(True).alias("a_"))
    b = right.select(*keys, *[F.col(c).alias(f"b_{c}") for c in cols], F.lit(True).alias("b_"))
    on = [a[k].eqNullSafe(b[k]) for k in keys]
    joined = a.join(b, on=on, how="full_outer")
    types = {f.name: f.dataType for f in left.schema.fields}
    checks = {"only_cluster": F.col("b_").isNull(), "only_local": F.col("a_").isNull()}
    for c in cols:
        x, y = F.col(f"a_{c}"), F.col(f"b_{c}")
        if isinstance(types[c], (T.DoubleType, T.FloatType)):
            apart = F.abs(x - y) > F.lit(rel_tol) * F.greatest(F.lit(1.0), F.abs(x), F.abs(y))
            checks[c] = (x.isNull() != y.isNull()) | F.coalesce(apart, F.lit(False))
        elif isinstance(types[c], T.MapType):  # category shares: the same keys, values equal to rel_tol
            ea, eb = F.array_sort(F.map_entries(x)), F.array_sort(F.map_entries(y))
            apart = F.exists(
                F.zip_with(
                    F.transform(ea, lambda e: e["value"]),
                    F.transform(eb, lambda e: e["value"]),
                    lambda p, q: F.abs(p - q) > F.lit(rel_tol) * F.greatest(F.lit(1.0), F.abs(p)),
                ),
                lambda off: F.coalesce(off, F.lit(True)),
            )
            keys_differ = ~F.transform(ea, lambda e: e["key"]).eqNullSafe(F.transform(eb, lambda e: e["key"]))
            checks[c] = (x.isNull() != y.isNull()) | F.coalesce(keys_differ | apart, F.lit(False))
        else:
            checks[c] = ~x.eqNullSafe(y)
    both = F.col("a_").isNotNull() & F.col("b_").isNotNull()
    row = one(  # one row of counts
        joined.agg(
            *[
                F.sum(F.when((cond if name.startswith("only_") else both & cond), 1).otherwise(0)).alias(name)
                for name, cond in checks.items()
            ]
        )
    )
    return {k: int(v or 0) for k, v in row.asDict().items() if v}


def compare(cluster_root: Path, local_root: Path) -> list[str]:
    """Every difference out of bounds, as lines; empty when the runs agree."""
    from pyspark.sql import functions as F

    from pmkt.libs import schemas, tables
    from pmkt.libs.config import load_config
    from pmkt.libs.ingest.validate import LINEAGE
    from pmkt.libs.lake import Lake
    from pmkt.libs.session import get_spark

    spark = get_spark(load_config(ROOT / "conf" / "local.yaml", [f"lake.root={local_root}", "spark.master=local[2]"]))
    on_cluster = Lake(spark, load_config(None, [f"lake.root={cluster_root}"]).lake)
    on_local = Lake(spark, load_config(None, [f"lake.root={local_root}"]).lake)
    checks = [(tables.SILVER[e], list(schemas.ENTITIES[e].keys), 0.0) for e in ENTITIES]
    checks += [
        (tables.QUARANTINE, ["entity", "reason", "key", "raw"], 0.0),
        (tables.CUSTOMER_FEATURES, ["customer_id", "snapshot_date"], 1e-9),
        (tables.CUSTOMER_PROFILES, ["customer_id", "snapshot_date"], 1e-9),
        (tables.FREQUENT_ITEMSETS, ["items"], 1e-9),
        (tables.ASSOCIATION_RULES, ["antecedent", "consequent"], 1e-9),
    ]
    problems = []
    for table, keys, tol in checks:
        left, right = on_cluster.read(table), on_local.read(table)
        drop = [c for c in left.columns if c in (*LINEAGE, *RUN_STAMPS)]
        found = differences(left.drop(*drop), right.drop(*drop), keys, tol)
        print(f"{table!s:<28} {left.count():>10,} rows  {'equal' if not found else found}", flush=True)
        problems += [f"{table}: {found}"] if found else []

    def metrics(lake: Lake) -> DataFrame:
        return (
            lake.read(tables.MODEL_METRICS)
            .groupBy("model", "variant", "metric", "split")
            .agg(F.max("value").alias("value"))
        )

    joined = metrics(on_cluster).join(
        metrics(on_local).withColumnRenamed("value", "local"),
        on=["model", "variant", "metric", "split"],
        how="full_outer",
    )
    # model_metrics holds a few hundred rows whatever the data size: bounded, collected to print them
    for r in joined.orderBy("model", "variant", "metric").collect():
        exact = r.metric in EXACT_METRICS or r.metric.startswith("split:") or r.metric == "k"
        bound = 1e-9 if exact else TOLERANCE
        off = r.value is None or r.local is None or abs(r.value - r.local) > bound * max(1.0, abs(r.local))
        gap = "missing" if r.value is None or r.local is None else f"{abs(r.value - r.local):.4f}"
        if off or not exact:
            print(
                f"  {r.model:<20} {r.variant:<10} {r.metric:<14} cluster {r.value} local {r.local}  |diff| {gap}"
                f"{'  OUT OF BOUNDS' if off else ''}"
            )
        problems += [f"model_metrics {r.model}/{r.variant}/{r.metric}: {gap}"] if off else []
    spark.stop()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=12_000)
    parser.add_argument("--work", help="scratch folder (default: a new temporary one)")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--compare-only", action="store_true", help="compare the two lakes already under --work")
    args = parser.parse_args()
    if args.compare_only and not args.work:
        parser.error("--compare-only needs the --work folder of an earlier run")
    work = Path(args.work or tempfile.mkdtemp(prefix="pmkt-cluster-"))
    from pmkt.libs.config import load_config

    steps = list(load_config(ROOT / "conf" / "local.yaml", []).pipeline.steps)
    if args.compare_only:
        on_cluster, on_local = (json.loads((work / side / "seconds.json").read_text()) for side in ("cluster", "local"))
    else:
        with cluster(work / "cluster-logs", workers=2, cores=1, memory="2g") as master:
            on_cluster = run_pipeline(master, work / "cluster", args.customers, steps)
        on_local = run_pipeline("local[2]", work / "local", args.customers, steps)
    problems = compare(work / "cluster" / "lake", work / "local" / "lake")
    print("\n| step | cluster s | local s | cluster / local |\n|---|---|---|---|")
    for step in [*steps, "total"]:
        c = sum(on_cluster.values()) if step == "total" else on_cluster[step]
        lo = sum(on_local.values()) if step == "total" else on_local[step]
        print(f"| {step} | {c:,.1f} | {lo:,.1f} | {c / lo:.2f} |")
    Path(args.results).mkdir(parents=True, exist_ok=True)
    target = Path(args.results) / f"cluster-{time.strftime('%Y-%m-%d')}.json"
    target.write_text(
        json.dumps(
            {
                "customers": args.customers,
                "workers": 2,
                "cores_per_worker": 1,
                "cluster_seconds": on_cluster,
                "local_seconds": on_local,
                "problems": problems,
            },
            indent=1,
        )
    )
    print(f"\n{'no differences out of bounds' if not problems else chr(10).join(problems)}\nresults: {target}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
