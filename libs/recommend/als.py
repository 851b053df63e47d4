"""MLlib ALS on implicit feedback: the estimator, an optional random search, top-N candidates, and fold-in."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import StorageLevel
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs.config import AlsConfig

USER, ITEM, RATING = "user_idx", "item_idx", "strength"


def estimator(spark: SparkSession, cfg: AlsConfig) -> ALS:
    """ALS with implicit preferences; blocks default to the cluster's parallelism.

    Spark's default of 10 blocks per side means 10x10 shuffle tasks per half-iteration whatever
    the cores; one block per core removes most of that overhead on small clusters.
    """
    blocks = cfg.blocks or max(spark.sparkContext.defaultParallelism, 1)
    als = ALS(
        userCol=USER,
        itemCol=ITEM,
        ratingCol=RATING,
        implicitPrefs=True,
        rank=cfg.rank,
        regParam=cfg.reg_param,
        alpha=cfg.alpha,
        maxIter=cfg.max_iter,
        numUserBlocks=blocks,
        numItemBlocks=blocks,
        coldStartStrategy="drop",
        seed=cfg.seed,
        intermediateStorageLevel="MEMORY_AND_DISK",
        finalStorageLevel="MEMORY_AND_DISK",
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


def item_matrix(model: ALSModel) -> tuple[np.ndarray, np.ndarray]:
    """The item ids in ascending order and their factors as one items x rank matrix (float32, as MLlib keeps
    them); bounded by the catalogue, not by customers or events."""
    factors = model.itemFactors.toArrow()
    order = np.argsort(factors.column("id").to_numpy())
    item_ids = factors.column("id").to_numpy().astype(np.int64)[order]
    flat = pc.list_flatten(factors.column("features")).to_numpy()
    return item_ids, flat.reshape(factors.num_rows, model.rank)[order].astype(np.float32)


def fold_in(model: ALSModel, interactions: DataFrame, alpha: float, reg_param: float) -> DataFrame:
    """(user_idx, features): each user's factor from their (user_idx, item_idx, strength) rows against the
    model's item factors, by the least-squares step implicit ALS itself takes for a user; no retraining.

    With Y the item factors, c = alpha x |r| and n the user's positive interactions, the factor solves
    (YᵀY + Σ c·y yᵀ + reg_param·n·I) x = Σ (1 + c)·y over the items with r > 0, as MLlib's `computeFactors`
    does (confidence from |r|, regularisation scaled by n). A user's rows with items the model has no factor
    for are left out; a user with none of them gets no row. One small solve per user, grouped on the
    executors (numpy: there is no MLlib call that takes fixed item factors).
    """
    item_ids, matrix = item_matrix(model)
    factors = matrix.astype(np.float64)
    gram = factors.T @ factors
    rank = model.rank

    def solve(rows: pd.DataFrame) -> pd.DataFrame:
        rows = rows.sort_values(ITEM, kind="stable")  # sums in one order: the same factor however rows arrive
        items = rows[ITEM].to_numpy(np.int64)
        at = np.searchsorted(item_ids, items).clip(max=len(item_ids) - 1)
        known = item_ids[at] == items
        ys, strength = factors[at[known]], rows[RATING].to_numpy(np.float64)[known]
        if not len(ys):
            return pd.DataFrame({USER: pd.Series([], dtype="int32"), "features": pd.Series([], dtype=object)})
        c = alpha * np.abs(strength)
        positive = strength > 0
        a = gram + (ys.T * c) @ ys + reg_param * positive.sum() * np.eye(rank)
        b = ((1.0 + c) * positive) @ ys
        x = np.linalg.solve(a, b).astype(np.float32)
        return pd.DataFrame({USER: [int(rows[USER].iloc[0])], "features": [x.tolist()]})

    return (
        interactions.select(USER, ITEM, RATING)
        .groupBy(USER)
        .applyInPandas(solve, schema=f"{USER} int, features array<float>")
    )


def candidates(
    model: ALSModel,
    users: DataFrame,
    n: int,
    seen: DataFrame | None = None,
    chunk: int = 128,
    user_factors: DataFrame | None = None,
) -> DataFrame:
    """(user_idx, item_idx, score): each user's `n` best items by the dot product of the factors,
    leaving out the user's `seen` (user_idx, item_idx) pairs *before* the cut, so a long history
    still yields `n` candidates.

    One pass on the executors: users with their factors and seen items stream through `mapInArrow`
    and are scored against the item factors with numpy in chunks of `chunk` users (a pruned top-k,
    then a sort of the n kept). Arrow's list columns are read as flat arrays, never as one Python
    object per user. The item factors travel with the function: items x rank floats, bounded by the
    catalogue, not by customers or events. `user_factors` (user_idx, features), for example from `fold_in`,
    replace the model's own.
    """
    item_ids, matrix = item_matrix(model)
    if user_factors is None:
        user_factors = model.userFactors.select(F.col("id").alias(USER), "features")
    rows = users.select(USER).distinct().join(user_factors.select(USER, "features"), on=USER, how="inner")
    if seen is not None:
        rows = rows.join(seen.groupBy(USER).agg(F.collect_list(ITEM).alias("seen")), on=USER, how="left")
    else:
        rows = rows.withColumn("seen", F.lit(None).cast("array<int>"))
    k = min(n, len(item_ids))

    def score(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        for batch in batches:
            for start in range(0, batch.num_rows, chunk):
                if k:
                    yield _score_chunk(batch.slice(start, chunk), matrix, item_ids, k)

    return rows.select(USER, "features", "seen").mapInArrow(score, schema=f"{USER} int, {ITEM} int, score double")


def _score_chunk(part: pa.RecordBatch, matrix: np.ndarray, item_ids: np.ndarray, k: int) -> pa.RecordBatch:
    """The top `k` unseen items of each user in `part` (user_idx, features, seen), as output rows."""
    users = part.column(USER).to_numpy(zero_copy_only=False).astype(np.int32)
    factors = pc.list_flatten(part.column("features")).to_numpy(zero_copy_only=False)
    scores = factors.reshape(len(users), -1).astype(np.float32) @ matrix.T
    seen = part.column("seen")
    wanted = pc.list_flatten(seen).to_numpy(zero_copy_only=False).astype(np.int64)
    if len(wanted):
        owner = pc.list_parent_indices(seen).to_numpy(zero_copy_only=False)
        at = np.searchsorted(item_ids, wanted).clip(max=len(item_ids) - 1)
        found = item_ids[at] == wanted  # ids not among the item factors are skipped
        scores[owner[found], at[found]] = -np.inf
    top, kept = top_k(scores, k)
    keep = np.isfinite(kept.ravel())
    return pa.RecordBatch.from_arrays(
        [
            pa.array(np.repeat(users, k)[keep]),
            pa.array(item_ids[top.ravel()].astype(np.int32)[keep]),
            pa.array(kept.ravel().astype(np.float64)[keep]),
        ],
        names=[USER, ITEM, "score"],
    )


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column positions and values of each row's `k` largest scores, best first (ties: lower position first).

    A floor under each row's k-th best prunes the matrix before anything is sorted: the k-th largest of
    its block maxima (k scores at least reach it). Only the blocks whose maximum reaches it are read,
    and only each row's k best of those (with their ties) are sorted: several times faster than a
    partition of every row over a large catalogue.
    """
    n_rows, n_cols = scores.shape
    width = max(int(np.sqrt(n_cols)), 1)
    starts = np.arange(0, n_cols, width)
    if len(starts) <= k:  # a small catalogue: sort each row
        order = np.lexsort((np.broadcast_to(np.arange(n_cols), scores.shape), -scores), axis=1)[:, :k]
        return order, np.take_along_axis(scores, order, axis=1)
    maxima = np.maximum.reduceat(scores, starts, axis=1)
    floor = np.partition(maxima, len(starts) - k, axis=1)[:, len(starts) - k]
    # Only blocks whose maximum reaches the floor can hold a kept score: read those, not the whole row.
    pair_rows, pair_blocks = np.nonzero(maxima >= floor[:, None])
    cols = starts[pair_blocks][:, None] + np.arange(width)
    inside = cols < n_cols
    cols = np.minimum(cols, n_cols - 1)
    values = scores[pair_rows[:, None], cols]
    hit = inside & (values >= floor[pair_rows][:, None])
    rows, cols, values = np.broadcast_to(pair_rows[:, None], cols.shape)[hit], cols[hit], values[hit]
    # Real factors put a customer's best items in a few blocks, so a row can keep hundreds of hits. The
    # exact k-th best of each row (a partition of the hits, padded to a rectangle) cuts them to the k
    # best and their ties before the sort. The hits come grouped by row, in order.
    counts = np.bincount(rows, minlength=n_rows)
    place = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    padded = np.full((n_rows, counts.max()), -np.inf, scores.dtype)
    padded[rows, place] = values
    kth = -np.partition(-padded, k - 1, axis=1)[:, k - 1]
    near = values >= kth[rows]
    rows, cols, values = rows[near], cols[near], values[near]
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    place = np.arange(len(rows)) - np.searchsorted(rows, np.arange(n_rows))[rows]
    kept = place < k  # every row has at least k scores at or above its floor
    positions = np.empty((n_rows, k), np.int64)
    best = np.empty((n_rows, k), scores.dtype)
    positions[rows[kept], place[kept]] = cols[kept]
    best[rows[kept], place[kept]] = values[kept]
    return positions, best


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
