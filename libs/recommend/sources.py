"""The candidate sources, built the same way for the evaluation split and for serving."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.ml.fpm import FPGrowthModel
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs.basket import crosssell
from pmkt.libs.config import AlsConfig, RecommendConfig
from pmkt.libs.recommend import als, hybrid, scoring, similarity


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
    als_model: ALSModel | None  # None when ALS has weight 0
    itemcf_neighbours: DataFrame | None  # None when item-CF has weight 0
    cached: list[DataFrame]  # the lazy candidates read these when they first run

    def unpersist(self) -> None:
        for df in (*self.candidates.values(), *self.cached):
            df.unpersist()


def on(ctx: Context, source: str) -> bool:
    """A source with weight 0 is not built at all; popularity always is (the baseline and the filler)."""
    return source == "popular" or ctx.cfg.weights.get(source, 0) > 0


def build(
    ctx: Context,
    strengths: DataFrame,
    users: DataFrame,
    lines: DataFrame | None,
    excluded: DataFrame | None,
    als_cfg: AlsConfig,
) -> Built:
    """Candidates per source for `users` from the `strengths` and training `lines`, materialised.

    Every source drops the `excluded` pairs before keeping its top `candidates`, so a customer with a
    long history still gets a full list.
    """
    n = ctx.cfg.candidates
    users = users.select("customer_id").distinct()
    found: dict[str, DataFrame] = {}
    cached: list[DataFrame] = []
    model = None
    if on(ctx, "als"):
        model = als.fit(ctx.spark, with_indexes(ctx, strengths), als_cfg)
        found["als"] = als_candidates(ctx, model, users, n, excluded)
    neighbours = None
    if on(ctx, "itemcf") or on(ctx, "content"):
        top = similarity.strongest_items(strengths, ctx.cfg.itemcf_user_items).persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(top)
        mine = top.join(users, on="customer_id", how="left_semi")
        if on(ctx, "itemcf"):
            neighbours = similarity.cooccurrence(top, ctx.cfg.itemcf_neighbours, ctx.cfg.itemcf_min_common).persist(
                StorageLevel.MEMORY_AND_DISK
            )
            cached.append(neighbours)
            found["itemcf"] = _from_neighbours(mine, neighbours, n, "itemcf", False, excluded)
        if ctx.content_neighbours is not None and on(ctx, "content"):
            found["content"] = _from_neighbours(mine, ctx.content_neighbours, n, "content", True, excluded)
    found["popular"] = hybrid.popular(strengths, users, ctx.segments, n, excluded, catalogue(ctx))
    if ctx.basket is not None and lines is not None and on(ctx, "basket"):
        fp_model, rules = ctx.basket
        recent = crosssell.recent_items(lines, ctx.basket_last_orders)
        found["basket"] = crosssell.candidates(
            fp_model, rules, recent.join(users, on="customer_id", how="left_semi"), n, excluded
        ).select(*hybrid.CANDIDATE)
    for name, df in found.items():
        # Checkpointed, not cached: the blend and serving rules union every source, and against cached
        # sources each of their queries analysed every source's whole plan again (plans of 2.4M characters).
        found[name] = df.localCheckpoint(eager=True)
    return Built(found, model, neighbours, cached)


def catalogue(ctx: Context) -> DataFrame:
    """Every product the serving rules could show: active products when known, else every indexed one."""
    if ctx.products is None:
        return ctx.product_index.select("product_id")
    return ctx.products.where(F.coalesce(F.col("active"), F.lit(True))).select("product_id")


def with_indexes(ctx: Context, strengths: DataFrame) -> DataFrame:
    return strengths.join(ctx.customer_index.select("customer_id", "user_idx"), on="customer_id", how="inner").join(
        ctx.product_index.select("product_id", "item_idx"), on="product_id", how="inner"
    )


def als_candidates(ctx: Context, model: ALSModel, users: DataFrame, n: int, excluded: DataFrame | None) -> DataFrame:
    indexed = users.join(ctx.customer_index.select("customer_id", "user_idx"), on="customer_id", how="inner")
    seen = with_indexes(ctx, excluded).select("user_idx", "item_idx") if excluded is not None else None
    recs = als.candidates(model, indexed, n, seen)
    return (
        recs.join(ctx.customer_index.select("customer_id", "user_idx"), on="user_idx", how="inner")
        .join(ctx.product_index.select("product_id", "item_idx"), on="item_idx", how="inner")
        .select(
            "customer_id",
            "product_id",
            F.col("score").cast("double").alias("score"),
            F.lit("als").alias("source"),
            F.lit("als: customers with your tastes chose it").alias("reason"),
        )
    )


def _from_neighbours(
    items: DataFrame, neighbours: DataFrame, n: int, source: str, normalise: bool, excluded: DataFrame | None
) -> DataFrame:
    scored = scoring.score_customers(items, neighbours, n, normalise, excluded)
    return scored.select(
        "customer_id",
        "product_id",
        "score",
        F.lit(source).alias("source"),
        similarity.because(source, F.col("anchor_id"), F.col("anchor_kind")).alias("reason"),
    )
