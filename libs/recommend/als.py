"""MLlib ALS on implicit feedback: the estimator, an optional random search, and top-N candidates."""
from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, replace

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


def candidates(model: ALSModel, users: DataFrame, n: int) -> DataFrame:
    """(user_idx, item_idx, score) for the top `n` items of each user in `users` (blocked, on executors)."""
    recs = model.recommendForUserSubset(users.select(USER).distinct(), n)
    return recs.select(USER, F.explode("recommendations").alias("r")).select(
        USER, F.col(f"r.{ITEM}").alias(ITEM), F.col("r.rating").alias("score"))


@dataclass(frozen=True)
class Trial:
    cfg: AlsConfig
    score: float


def tune(spark: SparkSession, train: DataFrame, score: Callable[[ALSModel], float], cfg: AlsConfig) -> list[Trial]:
    """Random search over ranks x reg_params x alphas; `score` rates a model on the validation split.

    Returns the trials best first. The grid is small and bounded, so sampling it on the driver is fine.
    """
    grid = list(itertools.product(cfg.ranks, cfg.reg_params, cfg.alphas))
    picks = random.Random(cfg.seed).sample(grid, min(cfg.tune_trials, len(grid)))
    trials = []
    for rank, reg, alpha in picks:
        trial_cfg = replace(cfg, rank=rank, reg_param=reg, alpha=alpha)
        trials.append(Trial(trial_cfg, score(fit(spark, train, trial_cfg))))
    return sorted(trials, key=lambda t: -t.score)
