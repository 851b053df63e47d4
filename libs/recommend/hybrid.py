"""Popularity (the cold-start source), the weighted blend of candidate sources, and the serving rules.

A candidate frame has the columns customer_id, product_id, score, source, reason.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

CANDIDATE = ("customer_id", "product_id", "score", "source", "reason")
ANCHORED = ("itemcf", "content", "basket")  # sources whose reason names the customer's own item
OUTPUT = ("customer_id", "rank", "product_id", "score", "source", "reason")


def popular(strengths: DataFrame, customers: DataFrame, segments: DataFrame | None, n: int) -> DataFrame:
    """The `n` products most customers interacted with: in the customer's segment when it has one,
    else overall. Every customer in `customers` gets candidates, so nobody starts cold."""
    by_customers = F.count_distinct("customer_id")
    # One row per product: a sort and limit, not a window over everything on one partition.
    overall = strengths.groupBy("product_id").agg(by_customers.alias("score")).orderBy(F.desc("score"), "product_id").limit(n)
    overall = overall.withColumn("reason", F.lit("popular overall"))
    who = customers.select("customer_id").distinct()
    if segments is None:
        return _candidates(who.crossJoin(F.broadcast(overall)), "popular")
    seg = segments.select("customer_id", "segment_id", "segment_name")
    in_segment = _top_n(
        strengths.join(seg, on="customer_id", how="inner").groupBy("segment_id", "segment_name", "product_id").agg(by_customers.alias("score")),
        ["segment_id"], n,
    ).withColumn("reason", F.concat(F.lit("popular with "), F.col("segment_name")))
    by_segment = who.join(seg, on="customer_id", how="inner").join(F.broadcast(in_segment.drop("segment_name")), on="segment_id", how="inner")
    rest = who.join(by_segment.select("customer_id").distinct(), on="customer_id", how="left_anti").crossJoin(F.broadcast(overall))
    return _candidates(by_segment.select("customer_id", "product_id", "score", "reason").unionByName(rest), "popular")


def blend(candidates: Sequence[DataFrame], weights: Mapping[str, float], rrf_k: int = 0) -> DataFrame:
    """Weighted sum over sources of each candidate's standing in that source: reciprocal rank
    1 / (rrf_k + rank) by default (robust to sources scoring on different scales), or with `rrf_k`
    0 the score scaled by the customer's best in that source.

    The source kept is the largest weighted contribution. The reason is the best contribution
    that names an item the customer knows ("because you viewed X"), else the top source's own.
    """
    weight = F.create_map(*[F.lit(x) for kv in weights.items() for x in kv])
    union = candidates[0]
    for more in candidates[1:]:
        union = union.unionByName(more)
    if rrf_k:
        position = F.row_number().over(Window.partitionBy("customer_id", "source").orderBy(F.desc("score"), "product_id"))
        scaled = 1.0 / (rrf_k + position)
    else:
        best = F.max("score").over(Window.partitionBy("customer_id", "source").rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing))
        scaled = F.when(best > 0, F.col("score") / best).otherwise(0.0)
    parts = union.withColumn("part", F.coalesce(weight[F.col("source")], F.lit(0.0)) * scaled)
    anchored = F.when(F.col("source").isin(*ANCHORED), F.col("part"))
    return parts.where(F.col("part") > 0).groupBy("customer_id", "product_id").agg(
        F.sum("part").alias("score"), F.max_by(F.struct("source", "reason"), F.col("part")).alias("top"),
        F.max_by("reason", anchored).alias("anchored"),
    ).select("customer_id", "product_id", "score", F.col("top.source").alias("source"),
             F.coalesce("anchored", "top.reason").alias("reason"))


def serve(candidates: DataFrame, purchased: DataFrame | None, products: DataFrame | None, top_k: int, max_per_category: int) -> DataFrame:
    """The serving rules, in order: drop purchased (when given) and inactive products, keep at most
    `max_per_category` per category, then rank the top `top_k` per customer."""
    kept = candidates
    if purchased is not None:
        kept = kept.join(purchased.select("customer_id", "product_id").distinct(), on=["customer_id", "product_id"], how="left_anti")
    category = F.lit(None).cast("string")
    if products is not None:
        inactive = products.where(F.col("active") == F.lit(False)).select("product_id")
        kept = kept.join(inactive, on="product_id", how="left_anti").join(
            products.select("product_id", F.col("category").alias("_category")), on="product_id", how="left")
        category = F.col("_category")
    kept = kept.withColumn("_category", category)
    order = [F.desc("score"), F.col("product_id")]
    in_category = F.row_number().over(Window.partitionBy("customer_id", "_category").orderBy(*order))
    diverse = kept.withColumn("_nc", in_category).where(F.col("_category").isNull() | (F.col("_nc") <= max_per_category))
    rank = F.row_number().over(Window.partitionBy("customer_id").orderBy(*order))
    return diverse.withColumn("rank", rank).where(F.col("rank") <= top_k).select(*OUTPUT)


def _top_n(scored: DataFrame, by: list[str], n: int) -> DataFrame:
    order = Window.partitionBy(*by).orderBy(F.desc("score"), "product_id")
    return scored.withColumn("_n", F.row_number().over(order)).where(F.col("_n") <= n).drop("_n")


def _candidates(df: DataFrame, source: str) -> DataFrame:
    return df.select("customer_id", "product_id", F.col("score").cast("double").alias("score"), F.lit(source).alias("source"), "reason")
