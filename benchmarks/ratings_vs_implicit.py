"""The documented ratings example on a real public ratings file, against `implicit` tuned on the same split.

    make benchmark-ratings                       # MovieLens 100k, then the generated world
    .venv/bin/python -m benchmarks.ratings_vs_implicit --world ml100k

Protocol:
1. Data. MovieLens 100k (943 users, 1,682 movies, 100,000 ratings with timestamps) ships inside the
   RecBole wheel on PyPI; it is taken out of the wheel (never imported) and written in the documented
   `userId,movieId,rating,timestamp` shape. `--world generated` uses the demo's generated shop instead.
2. pmkt. The documented ratings conf, as written (only paths changed), runs `pmkt pipeline` in a
   subprocess: ingest, then recommend with its default split, tuning and blend. Its own evaluation
   table (`gold.model_metrics`) gives every method's nDCG@10 on the test split it chose.
3. Peers, on exactly that split (rebuilt with pmkt's split code from the same contacts): `implicit`
   ALS and `implicit` item-item cosine, each tuned on a validation split of the same family inside
   the training side (ALS: factors x regularization x confidence scale; cosine: K). Seen items are
   excluded for every method, as pmkt's serving rules do.
4. Every list is scored by the same MLlib RankingEvaluator. The table prints nDCG@10 and the ratios
   against tuned implicit ALS and popularity; results go to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's own advice when benchmarking it

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

from pmkt.libs import tables  # noqa: E402
from pmkt.libs.config import Config, load_config  # noqa: E402
from pmkt.libs.lake import Lake  # noqa: E402
from pmkt.libs.metrics import latest_metrics  # noqa: E402
from pmkt.libs.recommend import evaluate, interactions, protocol, splits  # noqa: E402
from pmkt.libs.session import get_spark  # noqa: E402

RECBOLE = "recbole==1.2.1"
ML100K = "recbole/dataset_example/ml-100k/ml-100k.inter"
K = 10
ALS_GRID = {"factors": (16, 32, 64), "regularization": (0.01, 0.1, 1.0), "scale": (1.0, 5.0, 20.0)}
COSINE_K = (20, 50, 100, 200)
ENTITIES = ("products", "customers", "campaigns", "events", "transactions", "campaign_contacts")


def fetch_ml100k(folder: Path) -> Path:
    """MovieLens 100k from the RecBole wheel, as `userId,movieId,rating,timestamp` CSV."""
    out = folder / "ratings" / "ratings.csv"
    if out.exists():
        return out.parent
    wheels = folder / "wheel"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", RECBOLE, "-d", str(wheels)], check=True
    )
    [wheel] = wheels.glob("recbole-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        raw = pd.read_csv(zf.open(ML100K), sep="\t")
    raw.columns = ["userId", "movieId", "rating", "timestamp"]
    out.parent.mkdir(parents=True, exist_ok=True)
    raw.astype({"timestamp": "int64"}).to_csv(out, index=False)
    return out.parent


def doc_conf(work: Path, ratings: Path) -> Path:
    """The documented ratings.yaml, as written, pointed at `ratings` and a lake under `work`."""
    text = (ROOT / "docs" / "recommendations.md").read_text()
    found = re.search(r"<!-- doc-example: ratings.yaml -->\n```[a-z]*\n(.*?)```", text, re.S)
    if found is None:
        raise SystemExit("docs/recommendations.md has no ratings.yaml example")
    block = found.group(1)
    block = block.replace("path: exports/ratings", f"path: {ratings}").replace(
        "root: lakehouse/ratings", f"root: {work / 'lake'}"
    )
    (work / "conf").mkdir(parents=True, exist_ok=True)
    (work / "conf" / "local.yaml").write_text((ROOT / "conf" / "local.yaml").read_text())
    conf = work / "conf" / "ratings.yaml"
    conf.write_text(block)
    return conf


def run_pmkt(conf: Path, cwd: Path, sets: list[str]) -> float:
    cmd = [
        sys.executable,
        "-m",
        "pmkt.jobs.cli",
        "pipeline",
        "--conf-file",
        str(conf),
        *[a for kv in sets for a in ("--set", kv)],
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"pmkt failed:\n{done.stderr[-3000:]}")
    keep = ("evaluation split", "blend chosen", "UNDERPOWERED", "ALS rank")
    print("\n".join(line for line in done.stderr.splitlines() if any(k in line for k in keep)))
    return time.perf_counter() - start


def pmkt_metrics(lake: Lake) -> tuple[str, dict[str, dict[str, float]]]:
    rows = latest_metrics(lake, "recommend").where(F.col("split") == "test").collect()  # one run's metrics
    split = next(r.metric.split(":", 1)[1] for r in rows if r.metric.startswith("split:"))
    table: dict[str, dict[str, float]] = {}
    for r in rows:
        table.setdefault(r.variant, {})[r.metric] = r.value
    return split, table


def to_matrix(pairs: pd.DataFrame, users: dict, items: dict, value: str | None) -> sp.csr_matrix:
    rows, cols = pairs["customer_id"].map(users).to_numpy(), pairs["product_id"].map(items).to_numpy()
    data = pairs[value].to_numpy(np.float32) if value else np.ones(len(pairs), np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(users), len(items))).tocsr()


class Side:
    """One split's training side in implicit's terms: a weighted user x item matrix, the seen matrix, the test users."""

    def __init__(self, spark: SparkSession, contacts: DataFrame, split: splits.Split, cfg: Config) -> None:
        train = split.keep(contacts, "ts")
        # Benchmark-only: implicit, the peer, takes the split as in-memory matrices, and the public data sets here
        # (MovieLens 100k, the demo world) are small enough for one machine. Never done in pmkt's own jobs.
        strengths: pd.DataFrame = (
            interactions.strengths(train, cfg.recommend, split.as_of)
            .select("customer_id", "product_id", "strength")
            .toPandas()
        )
        excluded = interactions.excluded(train, cfg.recommend)
        if excluded is None:  # the peers exclude seen items too: an exclude-nothing conf has no like-for-like pair
            raise SystemExit("recommend.exclude is none: the benchmark compares lists without seen items")
        seen: pd.DataFrame = excluded.toPandas()  # benchmark-only, as the strengths: the peer's seen-items matrix
        self.test = split.test
        # Benchmark-only, like the frames above: one id per test customer of a public data set.
        self.test_users = [r.customer_id for r in split.test.select("customer_id").distinct().collect()]
        all_users = sorted(set(seen["customer_id"]) | set(self.test_users))
        all_items = sorted(set(seen["product_id"]) | set(strengths["product_id"]))
        self.users, self.items = {u: i for i, u in enumerate(all_users)}, {p: i for i, p in enumerate(all_items)}
        self.item_ids = np.array(all_items, dtype=object)
        self.weights = to_matrix(strengths, self.users, self.items, "strength")
        self.seen = to_matrix(seen, self.users, self.items, None)

    def lists(self, model: Any, spark: SparkSession) -> DataFrame:
        rows = np.array([self.users[u] for u in self.test_users])
        ids, _ = model.recommend(rows, self.seen[rows], N=K, filter_already_liked_items=True)
        out = [
            (u, int(r + 1), self.item_ids[i])
            for u, row in zip(self.test_users, ids, strict=True)
            for r, i in enumerate(row)
            if i >= 0
        ]
        return spark.createDataFrame(out, "customer_id string, rank int, product_id string")


def score(spark: SparkSession, lake: Lake, recs: DataFrame, test: DataFrame) -> float:
    index = lake.read(tables.PRODUCT_INDEX)
    return evaluate.ranking_metrics(evaluate.ranking_lists(recs, test, index), K)[f"ndcg@{K}"]


def implicit_als(side: Side, factors: int, regularization: float, scale: float) -> Any:
    from implicit.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(factors=factors, regularization=regularization, iterations=15, random_state=1)
    model.fit((side.weights * scale).tocsr(), show_progress=False)
    return model


def implicit_cosine(side: Side, k: int) -> Any:
    from implicit.nearest_neighbours import CosineRecommender

    model = CosineRecommender(K=k)
    model.fit(side.weights, show_progress=False)
    return model


def tuned(
    name: str, spark: SparkSession, lake: Lake, val: Side, test: Side, grid: list[dict], build: Callable[..., Any]
) -> tuple[float, dict, float]:
    """Pick the best of `grid` on validation, refit on the test split's training side; (ndcg, params, seconds)."""
    start = time.perf_counter()
    trials = [(score(spark, lake, val.lists(build(val, **p), spark), val.test), p) for p in grid]
    best = max(trials, key=lambda t: t[0])[1]
    value = score(spark, lake, test.lists(build(test, **best), spark), test.test)
    print(f"{name}: best on validation {best} -> test ndcg@{K} {value:.4f}")
    return value, best, time.perf_counter() - start


def peers(spark: SparkSession, config: Config, split_name: str) -> dict[str, tuple[float, dict, float]]:
    lake = Lake(spark, config.lake)
    cfg = config.recommend
    contacts = interactions.load(lake, cfg).contacts.cache()
    end = protocol.end_of(interactions.span(contacts))
    split = splits.make(contacts, cfg, end, split_name, cfg.test_days)
    train = split.keep(contacts, "ts")
    inner = splits.make(train, cfg, split.as_of, split.name, cfg.validation_days)
    test_side, val_side = Side(spark, contacts, split, config), Side(spark, train, inner, config)
    als_grid = [dict(zip(ALS_GRID, v, strict=True)) for v in itertools.product(*ALS_GRID.values())]
    return {
        "implicit ALS (tuned)": tuned("implicit ALS", spark, lake, val_side, test_side, als_grid, implicit_als),
        "implicit item cosine (tuned)": tuned(
            "implicit cosine", spark, lake, val_side, test_side, [{"k": k} for k in COSINE_K], implicit_cosine
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=("ml100k", "generated"), default="ml100k")
    parser.add_argument("--work", default=str(ROOT / "data" / "bench-ratings"))
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra pmkt config overrides, for experiments (the documented result uses none)",
    )
    args = parser.parse_args()
    work = Path(args.work) / args.world
    if args.world == "ml100k":
        conf, sets = doc_conf(work, fetch_ml100k(Path(args.work) / "ml100k-source")), []
    else:  # the demo's generated shop, up to recommend, in its own lake and landing folder
        conf = ROOT / "conf" / "local.yaml"
        landing = work / "landing"
        sets = [
            f"lake.root={work / 'lake'}",
            f"generate.landing={landing}",
            "pipeline.steps=[generate, ingest, features, profiles, segment, basket, recommend]",
            *[f"ingest.sources.{e}.path={landing / e}" for e in ENTITIES],
        ]
    sets += args.sets
    shutil.rmtree(work / "lake", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    seconds = run_pmkt(conf, work, sets)
    config = load_config(conf, sets)
    spark = get_spark(config)
    split, table = pmkt_metrics(Lake(spark, config.lake))
    found = peers(spark, config, split)
    best_peer = found["implicit ALS (tuned)"][0]
    popular = table["popular"][f"ndcg@{K}"]
    print(
        f"\n{args.world}: split {split}, {int(table['all']['test_customers'])} test customers, "
        f"{int(table['all']['test_pairs'])} relevant items; pmkt pipeline {seconds:.0f} s\n"
    )
    print(f"{'method':<30} {'ndcg@10':>8} {'vs implicit ALS':>16} {'vs popularity':>14}")
    rows = [(f"pmkt {m}", v[f"ndcg@{K}"]) for m, v in table.items() if f"ndcg@{K}" in v]
    rows += [(name, value) for name, (value, _, _) in found.items()]
    for name, value in rows:
        print(f"{name:<30} {value:8.4f} {value / best_peer:15.2f}x {value / popular:13.2f}x")
    out = ROOT / "benchmarks" / "results" / f"ratings-{args.world}-{dt.date.today():%Y-%m-%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "world": args.world,
                "split": split,
                "pmkt_seconds": seconds,
                "pmkt": table,
                "peers": {k: {"ndcg": v, "params": p, "seconds": s} for k, (v, p, s) in found.items()},
            },
            indent=1,
        )
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
