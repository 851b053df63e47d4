"""The candidate sources, built the same way for the evaluation split and for serving."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.ml.fpm import FPGrowthModel
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from libs.basket import crosssell
from libs.config import AlsConfig, RecommendConfig
from libs.recommend import als, hybrid, similarity


@dataclass(frozen=True)
class Context:
    """What every build shares: config, the id indexes, and the time-independent inputs."""

    spark: SparkSession
    cfg: RecommendConfig
    customer_index: DataFrame
    product_index: DataFrame
    products: DataFrame | None  # silver products: categories and the active flag for the serving rules
    content_neighbours: DataFrame | None
    segments: DataFrame | None
    lines: DataFrame | None
    basket: tuple[FPGrowthModel, DataFrame] | None  # the fitted model and its rules table
    basket_last_orders: int = 3  # basket candidates come from each customer's last orders


@dataclass
class Built:
    candidates: dict[str, DataFrame]
    als_model: ALSModel
    itemcf_neighbours: DataFrame
    strongest: DataFrame  # cached: the lazy candidates and neighbours read it when they first run

    def unpersist(self) -> None:
        for df in (*self.candidates.values(), self.itemcf_neighbours, self.strongest):
            df.unpersist()


def build(ctx: Context, strengths: DataFrame, users: DataFrame, as_of: dt.datetime, als_cfg: AlsConfig) -> Built:
    """Candidates per source for `users` from the `strengths` (and orders) before `as_of`; cached."""
    n = ctx.cfg.candidates
    users = users.select("customer_id").distinct()
    model = als.fit(ctx.spark, with_indexes(ctx, strengths), als_cfg)
    found: dict[str, DataFrame] = {"als": als_candidates(ctx, model, users, n)}
    weights = ctx.cfg.weights
    top = similarity.strongest_items(strengths, ctx.cfg.itemcf_user_items).persist(StorageLevel.MEMORY_AND_DISK)
    mine = top.join(users, on="customer_id", how="left_semi")
    neighbours = similarity.cooccurrence(top, ctx.cfg.itemcf_neighbours, ctx.cfg.itemcf_min_common).persist(StorageLevel.MEMORY_AND_DISK)
    if weights.get("itemcf", 0) > 0:
        found["itemcf"] = _from_neighbours(mine, neighbours, n, "itemcf", normalise=False)
    if ctx.content_neighbours is not None and weights.get("content", 0) > 0:
        found["content"] = _from_neighbours(mine, ctx.content_neighbours, n, "content", normalise=True)
    found["popular"] = hybrid.popular(strengths, users, ctx.segments, n)  # also the baseline, whatever its weight
    if ctx.basket is not None and ctx.lines is not None and weights.get("basket", 0) > 0:
        fp_model, rules = ctx.basket
        recent = crosssell.recent_items(ctx.lines.where(F.col("order_ts") < F.lit(as_of)), ctx.basket_last_orders)
        found["basket"] = crosssell.candidates(fp_model, rules, recent.join(users, on="customer_id", how="left_semi"), n).select(*hybrid.CANDIDATE)
    for name, df in found.items():
        found[name] = df.persist(StorageLevel.MEMORY_AND_DISK)
    return Built(found, model, neighbours, top)


def with_indexes(ctx: Context, strengths: DataFrame) -> DataFrame:
    return (strengths.join(ctx.customer_index.select("customer_id", "user_idx"), on="customer_id", how="inner")
            .join(ctx.product_index.select("product_id", "item_idx"), on="product_id", how="inner"))


def als_candidates(ctx: Context, model: ALSModel, users: DataFrame, n: int) -> DataFrame:
    indexed = users.join(ctx.customer_index.select("customer_id", "user_idx"), on="customer_id", how="inner")
    recs = als.candidates(model, indexed, n)
    return (recs.join(ctx.customer_index.select("customer_id", "user_idx"), on="user_idx", how="inner")
            .join(ctx.product_index.select("product_id", "item_idx"), on="item_idx", how="inner")
            .select("customer_id", "product_id", F.col("score").cast("double").alias("score"), F.lit("als").alias("source"),
                    F.lit("als: customers with your tastes chose it").alias("reason")))


def _from_neighbours(items: DataFrame, neighbours: DataFrame, n: int, source: str, normalise: bool) -> DataFrame:
    scored = similarity.score_customers(items, neighbours, n, normalise)
    return scored.select("customer_id", "product_id", "score", F.lit(source).alias("source"),
                         similarity.because(source, F.col("anchor_id"), F.col("anchor_kind")).alias("reason"))
