"""MLlib ALS on implicit feedback: the estimator, an optional random search, and top-N candidates."""
from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from libs.config import AlsConfig

USER, ITEM, RATING = "user_idx", "item_idx", "strength"


def estimator(spark: SparkSession, cfg: AlsConfig) -> ALS:
    """ALS with implicit preferences; blocks default to the cluster's parallelism.

    Spark's default of 10 blocks per side means 10x10 shuffle tasks per half-iteration whatever
    the cores; one block per core removes most of that overhead on small clusters.
    """
    blocks = cfg.blocks or max(spark.sparkContext.defaultParallelism, 1)
    als = ALS(
        userCol=USER, itemCol=ITEM, ratingCol=RATING, implicitPrefs=True,
        rank=cfg.rank, regParam=cfg.reg_param, alpha=cfg.alpha, maxIter=cfg.max_iter,
        numUserBlocks=blocks, numItemBlocks=blocks, coldStartStrategy="drop", seed=cfg.seed,
        intermediateStorageLevel="MEMORY_AND_DISK", finalStorageLevel="MEMORY_AND_DISK",
    )
    if spark.sparkContext.getCheckpointDir():
        als.setCheckpointInterval(cfg.checkpoint_interval)  # truncates the lineage of long fits
    return als


def fit(spark: SparkSession, train: DataFrame, cfg: AlsConfig) -> ALSModel:
    data = train.select(USER, ITEM, RATING).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        return estimator(spark, cfg).fit(data)
    finally:
        data.unpersist()


def candidates(model: ALSModel, users: DataFrame, n: int, seen: DataFrame | None = None, chunk: int = 512) -> DataFrame:
    """(user_idx, item_idx, score): each user's `n` best items by the dot product of the factors,
    leaving out the user's `seen` (user_idx, item_idx) pairs *before* the cut, so a long history
    still yields `n` candidates.

    One pass on the executors: users with their factors and seen items stream through `mapInPandas`
    and are scored against the item factors with numpy in chunks of `chunk` users (argpartition, then
    a sort of the n kept). The item factors travel with the function: items x rank floats, bounded
    by the catalogue, not by customers or events.
    """
    item_factors = model.itemFactors.toPandas()  # the catalogue's factors: items x rank floats
    order = np.argsort(item_factors["id"].to_numpy())
    item_ids = item_factors["id"].to_numpy(np.int64)[order]
    matrix = np.vstack(item_factors["features"].to_numpy())[order].astype(np.float32)
    rows = (
        users.select(USER)
        .distinct()
        .join(model.userFactors.select(F.col("id").alias(USER), "features"), on=USER, how="inner")
    )
    if seen is not None:
        rows = rows.join(seen.groupBy(USER).agg(F.collect_list(ITEM).alias("seen")), on=USER, how="left")
    else:
        rows = rows.withColumn("seen", F.lit(None).cast("array<int>"))

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        k = min(n, len(item_ids))
        for batch in batches:
            for start in range(0, len(batch), chunk):
                part = batch.iloc[start : start + chunk]
                if k == 0 or part.empty:
                    continue
                scores = np.vstack(part["features"].to_numpy()).astype(np.float32) @ matrix.T
                for row, items in enumerate(part["seen"].to_numpy()):
                    if items is not None and len(items):
                        scores[row, _positions(item_ids, items)] = -np.inf
                top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
                kept = np.take_along_axis(scores, top, axis=1)
                best = np.argsort(-kept, axis=1, kind="stable")
                top, kept = np.take_along_axis(top, best, axis=1), np.take_along_axis(kept, best, axis=1)
                out = pd.DataFrame(
                    {
                        USER: np.repeat(part[USER].to_numpy(np.int32), k),
                        ITEM: item_ids[top.ravel()].astype(np.int32),
                        "score": kept.ravel().astype(np.float64),
                    }
                )
                yield out[np.isfinite(out["score"])]

    return rows.mapInPandas(score, schema=f"{USER} int, {ITEM} int, score double")


def _positions(sorted_ids: np.ndarray, wanted: Sequence[int]) -> np.ndarray:
    """Where `wanted` ids sit in `sorted_ids`; ids not there are skipped."""
    wanted_ids = np.asarray(wanted, np.int64)
    at = np.searchsorted(sorted_ids, wanted_ids).clip(max=len(sorted_ids) - 1)
    return at[sorted_ids[at] == wanted_ids]


@dataclass(frozen=True)
class Trial:
    cfg: AlsConfig
    score: float


def tune(spark: SparkSession, train: DataFrame, score: Callable[[ALSModel], float], cfg: AlsConfig) -> list[Trial]:
    """Random search over ranks x reg_params x alphas x max_iters; `score` rates a model on validation.

    Returns the trials best first. The grid is small and bounded, so sampling it on the driver is fine.
    """
    grid = list(itertools.product(cfg.ranks, cfg.reg_params, cfg.alphas, cfg.max_iters or (cfg.max_iter,)))
    picks = random.Random(cfg.seed).sample(grid, min(cfg.tune_trials, len(grid)))
    trials = []
    for rank, reg, alpha, iterations in picks:
        trial_cfg = replace(cfg, rank=rank, reg_param=reg, alpha=alpha, max_iter=iterations)
        trials.append(Trial(trial_cfg, score(fit(spark, train, trial_cfg))))
    return sorted(trials, key=lambda t: -t.score)
