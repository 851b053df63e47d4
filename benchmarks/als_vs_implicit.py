"""MLlib ALS against the `implicit` library: same data, same split, same hyperparameters, same evaluator.

    make benchmark                       # 1M and 10M interactions
    .venv/bin/python -m benchmarks.als_vs_implicit --sizes 1m

Data: Spark generates users with one of 50 planted taste groups and Zipf-popular items, so nDCG@10
means something. The last 20% of the time range is the test set; train items are filtered from every
list. Every list is scored by MLlib's RankingEvaluator. Top-10 is made for every user with training data.

Rows: implicit (conjugate gradient, its default; and the exact solve MLlib uses), MLlib fits with its own
`recommendForUserSubset` (top 60, then the seen items dropped), and pmkt's scoring of the same fitted
model (`libs.recommend.als.candidates`: numpy top-k in `mapInPandas`, seen items excluded before the cut).
Prints one table and the ratios against implicit; `--quick` runs implicit (CG) and one MLlib fit only.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's own advice when benchmarking it

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from pyspark.ml.evaluation import RankingEvaluator  # noqa: E402
from pyspark.ml.recommendation import ALS, ALSModel  # noqa: E402
from pyspark.sql import DataFrame, SparkSession, Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from pmkt.libs.session import LOCAL_JAVA_OPTIONS  # noqa: E402

SIZES = {"1m": (20_000, 4_000, 1_000_000), "10m": (200_000, 40_000, 10_000_000)}
RANK, ITERATIONS, REG, ALPHA, K, GROUPS = 32, 10, 0.05, 10.0, 10, 50
RAW_PER_PAIR = 1.25  # draws per distinct (user, item) pair wanted: repeats merge into one stronger pair


@dataclass
class Result:
    name: str
    fit_s: float
    recommend_s: float
    ndcg: float


def generate(spark: SparkSession, users: int, items: int, n: int, seed: int = 7) -> DataFrame:
    """(user, item, strength, day): 80% of a user's contacts in their taste group, Zipf popularity."""

    def u(salt: str) -> F.Column:
        return (F.abs(F.xxhash64(F.lit(seed), F.lit(salt), F.col("id"))) % 1_000_000) / 1_000_000.0

    per_group = items // GROUPS
    user = (F.abs(F.xxhash64(F.lit(seed), F.lit("user"), F.col("id"))) % users).cast("int")
    group = F.when(u("own") < 0.8, user % GROUPS).otherwise((u("other") * GROUPS).cast("int"))
    rank_in_group = F.least((F.pow(u("zipf"), 1.5) * per_group).cast("int"), F.lit(per_group - 1))
    return (
        spark.range(int(n * RAW_PER_PAIR))
        .select(
            user.alias("user"),
            (group * per_group + rank_in_group).cast("int").alias("item"),
            (1.0 + F.floor(u("w") * 4)).alias("strength"),
            (u("t") * 100).cast("int").alias("day"),
        )
        .groupBy("user", "item")
        .agg(F.sum("strength").alias("strength"), F.max("day").alias("day"))
    )


def truth_lists(test: DataFrame, train: DataFrame) -> DataFrame:
    fresh = test.join(train.select("user", "item"), on=["user", "item"], how="left_anti")
    return fresh.groupBy("user").agg(F.collect_set(F.col("item").cast("double")).alias("label"))


def ndcg(spark: SparkSession, recs: DataFrame, truth: DataFrame) -> float:
    lists = truth.join(recs, on="user", how="left").select(
        "label", F.coalesce("prediction", F.array().cast("array<double>")).alias("prediction")
    )
    return RankingEvaluator(metricName="ndcgAtK", k=K).evaluate(lists)


def as_lists(top: DataFrame) -> DataFrame:
    """(user, item, score) rows, at most K per user, as rank-ordered prediction arrays."""
    ordered = F.array_sort(F.collect_list(F.struct((-F.col("score")).alias("s"), "item")))
    return top.groupBy("user").agg(F.transform(ordered, lambda x: x["item"].cast("double")).alias("prediction"))


def materialised(top: DataFrame, start: float) -> tuple[DataFrame, float]:
    """`top` cached and counted, and the seconds since `start`: the top-k rows held in memory, as implicit's are."""
    top = top.cache()
    top.count()
    return top, time.perf_counter() - start


def mllib(spark: SparkSession, train: DataFrame, truth: DataFrame, name: str, **params: Any) -> tuple[Result, ALSModel]:
    als = ALS(
        userCol="user",
        itemCol="item",
        ratingCol="strength",
        implicitPrefs=True,
        rank=RANK,
        maxIter=ITERATIONS,
        regParam=REG,
        alpha=ALPHA,
        seed=1,
        **params,
    )
    start = time.perf_counter()
    model = als.fit(train)
    model.userFactors.count()  # fit is lazy about its final factors; force them
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    users = train.select("user").distinct()
    raw = model.recommendForUserSubset(users, K + 50).select("user", F.explode("recommendations").alias("r"))
    ranked = raw.select("user", F.col("r.item").alias("item"), F.col("r.rating").alias("score")).join(
        train.select("user", "item"), on=["user", "item"], how="left_anti"
    )
    best = F.row_number().over(Window.partitionBy("user").orderBy(F.desc("score")))
    top, rec_s = materialised(ranked.withColumn("n", best).where(F.col("n") <= K).drop("n"), start)
    return Result(name, fit_s, rec_s, ndcg(spark, as_lists(top), truth)), model


def pmkt_scoring(spark: SparkSession, model: ALSModel, fitted: Result, train: DataFrame, truth: DataFrame) -> Result:
    """pmkt's top-k on `model`: the same fit as `fitted`, only the scoring differs."""
    from pmkt.libs.recommend import als as pmkt_als

    start = time.perf_counter()
    users = train.select(F.col("user").alias(pmkt_als.USER)).distinct()
    seen = train.select(F.col("user").alias(pmkt_als.USER), F.col("item").alias(pmkt_als.ITEM))
    top = pmkt_als.candidates(model, users, K, seen).select(
        F.col(pmkt_als.USER).alias("user"), F.col(pmkt_als.ITEM).alias("item"), "score"
    )
    top, rec_s = materialised(top, start)
    return Result(f"{fitted.name}, pmkt top-k", fitted.fit_s, rec_s, ndcg(spark, as_lists(top), truth))


def implicit_peer(
    spark: SparkSession, train_path: str, truth: DataFrame, users: int, items: int, use_cg: bool
) -> Result:
    import implicit
    import scipy.sparse as sp

    table = pq.read_table(train_path, columns=["user", "item", "strength"])
    cells = (table["user"].to_numpy(), table["item"].to_numpy())
    user_items = sp.csr_matrix((table["strength"].to_numpy(), cells), shape=(users, items))
    model = implicit.cpu.als.AlternatingLeastSquares(
        factors=RANK,
        regularization=REG,
        alpha=ALPHA,
        iterations=ITERATIONS,
        random_state=1,
        num_threads=os.cpu_count() or 1,
        use_cg=use_cg,
    )
    start = time.perf_counter()
    model.fit(user_items, show_progress=False)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    who = np.unique(table["user"].to_numpy()).astype(np.int32)  # every user with training data
    ids, _ = model.recommend(who, user_items[who], N=K, filter_already_liked_items=True)
    rec_s = time.perf_counter() - start
    rows = [(int(u), [float(i) for i in row]) for u, row in zip(who, ids, strict=True)]
    recs = spark.createDataFrame(rows, "user int, prediction array<double>")
    name = "implicit (conjugate gradient)" if use_cg else "implicit (exact solve, as MLlib)"
    return Result(name, fit_s, rec_s, ndcg(spark, recs, truth))


def run_size(
    spark: SparkSession, label: str, users: int, items: int, n: int, workdir: str, quick: bool
) -> list[Result]:
    data = generate(spark, users, items, n)
    path = os.path.join(workdir, label)
    data.write.mode("overwrite").parquet(path)
    data = spark.read.parquet(path)
    train, test = data.where(F.col("day") < 80), data.where(F.col("day") >= 80)
    train_path = os.path.join(workdir, f"{label}_train")
    train.write.mode("overwrite").parquet(train_path)
    train = spark.read.parquet(train_path).cache()
    print(
        f"\n{label}: {data.count():,} interactions, {train.count():,} in train, {users:,} users x {items:,} items",
        flush=True,
    )
    truth = truth_lists(test, train).cache()
    truth.count()
    cores = spark.sparkContext.defaultParallelism
    results = [implicit_peer(spark, train_path, truth, users, items, use_cg=True)]
    if not quick:
        results.append(implicit_peer(spark, train_path, truth, users, items, use_cg=False))
        results.append(mllib(spark, train, truth, "mllib defaults (10x10 blocks)")[0])
    blocks = {"numUserBlocks": cores, "numItemBlocks": cores}
    fitted, model = mllib(spark, train, truth, f"mllib {cores}x{cores} blocks", **blocks)
    results += [fitted, pmkt_scoring(spark, model, fitted, train, truth)]
    if not quick:
        results.append(
            mllib(
                spark,
                train,
                truth,
                f"mllib {cores}x{cores} blocks, MEMORY_ONLY",
                numUserBlocks=cores,
                numItemBlocks=cores,
                intermediateStorageLevel="MEMORY_ONLY",
                finalStorageLevel="MEMORY_ONLY",
            )[0]
        )
    train.unpersist()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--quick", action="store_true", help="implicit (CG) and one MLlib fit, with both top-k paths")
    args = parser.parse_args()
    spark = (
        SparkSession.builder.master(args.master)
        .appName("als-benchmark")
        .config("spark.driver.memory", "12g")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.extraJavaOptions", " ".join(LOCAL_JAVA_OPTIONS))  # as pmkt's own sessions
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    with tempfile.TemporaryDirectory() as workdir:
        spark.sparkContext.setCheckpointDir(os.path.join(workdir, "checkpoints"))
        for label in args.sizes:
            results = run_size(spark, label, *SIZES[label], workdir, args.quick)
            peer = results[0]
            print(f"{'library':<48} {'fit s':>7} {'top-10 s':>9} {'ndcg@10':>8} {'fit ratio':>10} {'top-10 ratio':>13}")
            for r in results:
                print(
                    f"{r.name:<48} {r.fit_s:7.1f} {r.recommend_s:9.1f} {r.ndcg:8.4f} {r.fit_s / peer.fit_s:9.1f}x "
                    f"{r.recommend_s / peer.recommend_s:12.1f}x",
                    flush=True,
                )
    spark.stop()


if __name__ == "__main__":
    main()
