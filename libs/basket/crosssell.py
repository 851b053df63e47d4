"""Cross-sell candidates from basket rules: a source the recommendation hybrid can blend."""

from __future__ import annotations

from pyspark.ml.fpm import FPGrowthModel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pmkt.libs.basket.mining import ITEMS


def recent_items(lines: DataFrame, last_orders: int) -> DataFrame:
    """`customer_id`, `items`: the distinct products of each customer's last N orders."""
    orders = (
        lines.where(F.col("product_id").isNotNull())
        .groupBy("customer_id", "order_id")
        .agg(F.max("order_ts").alias("order_ts"), F.collect_set("product_id").alias("products"))
    )
    latest = F.row_number().over(Window.partitionBy("customer_id").orderBy(F.desc("order_ts"), F.desc("order_id")))
    recent = orders.withColumn("_n", latest).where(F.col("_n") <= last_orders)
    return recent.groupBy("customer_id").agg(
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("products")))).alias(ITEMS)
    )


def candidates(
    model: FPGrowthModel, rule_df: DataFrame, recent: DataFrame, top_n: int, excluded: DataFrame | None = None
) -> DataFrame:
    """Products the model predicts for each basket, scored by the strongest applicable rule's lift.

    `FPGrowthModel.transform` proposes the consequents of every rule whose antecedent the basket
    holds; the rules table then says why (the antecedent) and how strongly (lift, confidence).
    `excluded` (customer, product) pairs are dropped before the top `top_n` are kept.
    """
    predicted = model.transform(recent).select("customer_id", ITEMS, F.explode("prediction").alias("product_id"))
    applicable = rule_df.where(F.size("consequent") == 1).select(
        "antecedent", F.col("consequent")[0].alias("product_id"), "lift", "confidence"
    )
    scored = predicted.join(applicable, on="product_id", how="inner").where(
        F.size(F.array_except("antecedent", ITEMS)) == 0
    )
    best = Window.partitionBy("customer_id", "product_id").orderBy(F.desc("lift"), F.desc("confidence"))
    per_product = scored.withColumn("_r", F.row_number().over(best)).where(F.col("_r") == 1)
    if excluded is not None:
        per_product = per_product.join(
            excluded.select("customer_id", "product_id"), on=["customer_id", "product_id"], how="left_anti"
        )
    rank = F.row_number().over(
        Window.partitionBy("customer_id").orderBy(F.desc("lift"), F.desc("confidence"), "product_id")
    )
    return (
        per_product.withColumn("rank", rank)
        .where(F.col("rank") <= top_n)
        .select(
            "customer_id",
            "rank",
            "product_id",
            F.col("lift").alias("score"),
            "confidence",
            F.lit("basket").alias("source"),
            F.concat(F.lit("often bought with "), F.array_join("antecedent", " + ")).alias("reason"),
        )
    )
