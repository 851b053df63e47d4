"""Popularity (the cold-start source), the weighted blend of candidate sources, and the serving rules.

A candidate frame has the columns customer_id, product_id, score, source, reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pmkt.libs.frames import one, union_all

CANDIDATE = ("customer_id", "product_id", "score", "source", "reason")
ANCHORED = ("itemcf", "content", "basket")  # sources whose reason names the customer's own item
OUTPUT = ("customer_id", "rank", "product_id", "score", "source", "reason")


def popular_items(strengths: DataFrame, catalogue: DataFrame | None = None) -> DataFrame:
    """Every item ranked by how many customers turned to it (ties by product id): the cold-start list.

    Items of the `catalogue` nobody turned to yet come last, so long histories still fill up. One
    sorted list, bounded by the catalogue.
    """
    counts = strengths.groupBy("product_id").agg(F.count_distinct("customer_id").alias("customers"))
    if catalogue is not None:
        counts = (
            catalogue.select("product_id").distinct().join(counts, on="product_id", how="left").fillna(0, ["customers"])
        )
    order = Window.orderBy(F.desc("customers"), "product_id").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    return counts.select(F.row_number().over(order).alias("rank"), "product_id", "customers")


def popular(
    strengths: DataFrame,
    customers: DataFrame,
    segments: DataFrame | None,
    n: int,
    excluded: DataFrame | None = None,
    catalogue: DataFrame | None = None,
) -> DataFrame:
    """Each customer's `n` most popular items (most customers turned to them) that the serving rules
    allow: from the customer's segment first when it has one, then overall, then the rest of the
    `catalogue`. Everybody gets `n` whenever the catalogue holds them, the coldest and the heaviest
    customers alike.

    A customer with h excluded items needs at most n + h of a ranked list, so each customer is
    expanded to positions 1..n+h and joined on position: linear in customers plus their histories.
    """
    who = customers.select("customer_id").distinct()
    if excluded is not None:
        who = who.join(excluded.groupBy("customer_id").agg(F.count(F.lit(1)).alias("_h")), on="customer_id", how="left")
    need = (F.lit(n) + F.coalesce(F.col("_h"), F.lit(0))) if excluded is not None else F.lit(n)
    who = who.withColumn("_need", need.cast("int"))
    longest = int(one(who.agg(F.max("_need")))[0] or n)  # one number
    # At most `longest` rows, bounded by the catalogue: one small sorted list.
    overall = (
        popular_items(strengths, catalogue)
        .where(F.col("rank") <= longest)
        .select(F.col("rank").alias("_pos"), "product_id", F.col("customers").alias("_count"), F.lit(1).alias("_tier"))
    )
    positions = who.select("customer_id", F.explode(F.sequence(F.lit(1), F.col("_need"))).alias("_pos"))
    ranked = positions.join(F.broadcast(overall), on="_pos", how="inner").withColumn("reason", F.lit("popular overall"))
    if segments is not None:
        seg = segments.select("customer_id", "segment_id", "segment_name")
        by_segment = (
            strengths.join(seg, on="customer_id", how="inner")
            .groupBy("segment_id", "segment_name", "product_id")
            .agg(F.count_distinct("customer_id").alias("_count"))
        )
        order = Window.partitionBy("segment_id").orderBy(F.desc("_count"), "product_id")
        in_segment = by_segment.withColumn("_pos", F.row_number().over(order)).where(F.col("_pos") <= longest)
        mine = positions.join(seg.select("customer_id", "segment_id"), on="customer_id", how="inner")
        ranked = ranked.unionByName(
            mine.join(F.broadcast(in_segment), on=["segment_id", "_pos"], how="inner")
            .withColumn("_tier", F.lit(0))
            .select(
                "_pos",
                "customer_id",
                "product_id",
                "_count",
                "_tier",
                F.concat(F.lit("popular with "), F.col("segment_name")).alias("reason"),
            )
        )
    if excluded is not None:
        ranked = ranked.join(excluded, on=["customer_id", "product_id"], how="left_anti")
    first = Window.partitionBy("customer_id", "product_id").orderBy("_tier", "_pos")
    ranked = ranked.withColumn("_first", F.row_number().over(first)).where(F.col("_first") == 1)
    best = F.row_number().over(Window.partitionBy("customer_id").orderBy("_tier", "_pos", "product_id"))
    top = ranked.withColumn("_n", best).where(F.col("_n") <= n)
    # The score falls with the position, so every blend reads the tiers in order.
    return _candidates(top.withColumn("score", F.lit(n + 1) - F.col("_n")), "popular")


@dataclass(frozen=True)
class Blend:
    """How sources combine: a weight per source and the reciprocal-rank constant (0: scaled scores)."""

    weights: Mapping[str, float]
    rrf_k: int

    def of(self, candidates: Sequence[DataFrame]) -> DataFrame:
        return blend(candidates, self.weights, self.rrf_k)

    @property
    def label(self) -> str:
        return "_".join(f"{k}{v:g}" for k, v in sorted(self.weights.items())) + f"_rrf{self.rrf_k}"


def blend(candidates: Sequence[DataFrame], weights: Mapping[str, float], rrf_k: int = 0) -> DataFrame:
    """Weighted sum over sources of each candidate's standing in that source: reciprocal rank
    1 / (rrf_k + rank) by default (robust to sources scoring on different scales), or with `rrf_k`
    0 the score scaled by the customer's best in that source.

    The source kept is the largest weighted contribution. The reason is the best contribution
    that names an item the customer knows ("because you viewed X"), else the top source's own.
    """
    weight = F.create_map(*[F.lit(x) for kv in weights.items() for x in kv])
    union = union_all(candidates)
    if rrf_k:
        position = F.row_number().over(
            Window.partitionBy("customer_id", "source").orderBy(F.desc("score"), "product_id")
        )
        scaled = 1.0 / (rrf_k + position)
    else:
        best = F.max("score").over(
            Window.partitionBy("customer_id", "source").rowsBetween(
                Window.unboundedPreceding, Window.unboundedFollowing
            )
        )
        scaled = F.when(best > 0, F.col("score") / best).otherwise(0.0)
    parts = union.withColumn("part", F.coalesce(weight[F.col("source")], F.lit(0.0)) * scaled)
    anchored = F.when(F.col("source").isin(*ANCHORED), F.col("part"))
    return (
        parts.where(F.col("part") > 0)
        .groupBy("customer_id", "product_id")
        .agg(
            F.sum("part").alias("score"),
            F.max_by(F.struct("source", "reason"), F.col("part")).alias("top"),
            F.max_by("reason", anchored).alias("anchored"),
        )
        .select(
            "customer_id",
            "product_id",
            "score",
            F.col("top.source").alias("source"),
            F.coalesce("anchored", "top.reason").alias("reason"),
        )
    )


def serve(
    candidates: DataFrame,
    excluded: DataFrame | None,
    products: DataFrame | None,
    top_k: int,
    max_per_category: int,
    by: Sequence[str] = (),
) -> DataFrame:
    """The serving rules, in order: drop `excluded` (customer, product) pairs and inactive products,
    prefer at most `max_per_category` per category (more only when nothing else is left, so a list
    is never short for diversity's sake), then rank the top `top_k` per customer.

    Columns `by` split the candidates into separate lists per customer (one per method, say), served in one pass.
    """
    by = list(by)
    kept = candidates
    if excluded is not None:
        kept = kept.join(
            excluded.select("customer_id", "product_id"), on=["customer_id", "product_id"], how="left_anti"
        )
    category = F.lit(None).cast("string")
    if products is not None:
        inactive = products.where(F.col("active") == F.lit(False)).select("product_id")
        kept = kept.join(inactive, on="product_id", how="left_anti").join(
            products.select("product_id", F.col("category").alias("_category")), on="product_id", how="left"
        )
        category = F.col("_category")
    kept = kept.withColumn("_category", category)
    order = [F.desc("score"), F.col("product_id")]
    in_category = F.row_number().over(Window.partitionBy(*by, "customer_id", "_category").orderBy(*order))
    over_cap = F.col("_category").isNotNull() & (F.col("_nc") > max_per_category)
    diverse = kept.withColumn("_nc", in_category).withColumn("_over", over_cap)
    rank = F.row_number().over(Window.partitionBy(*by, "customer_id").orderBy("_over", *order))
    ranked = diverse.withColumn("rank", rank).where(F.col("rank") <= top_k)
    # A list's scores fall with its rank: an item past its category's cap scores below every item within it.
    floor = F.min(F.when(~F.col("_over"), F.col("score"))).over(Window.partitionBy(*by, "customer_id"))
    return ranked.withColumn("score", F.when(F.col("_over"), F.least("score", floor)).otherwise(F.col("score"))).select(
        *by, *OUTPUT
    )


def _top_n(scored: DataFrame, by: list[str], n: int) -> DataFrame:
    order = Window.partitionBy(*by).orderBy(F.desc("score"), "product_id")
    return scored.withColumn("_n", F.row_number().over(order)).where(F.col("_n") <= n).drop("_n")


def _candidates(df: DataFrame, source: str) -> DataFrame:
    return df.select(
        "customer_id",
        "product_id",
        F.col("score").cast("double").alias("score"),
        F.lit(source).alias("source"),
        "reason",
    )
