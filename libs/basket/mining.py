"""Baskets, the explosion guard and FPGrowth rule mining with full rule metrics."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.ml.fpm import FPGrowth, FPGrowthModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs.config import BasketConfig
from pmkt.libs.errors import MissingInput, UserError
from pmkt.libs.frames import one

ITEMS = "items"


@dataclass(frozen=True)
class GuardResult:
    min_support: float  # the support actually used
    itemsets: int  # the exact number of frequent itemsets at that support
    steps: int  # how many times the support was raised
    baskets: int


def baskets_from(lines: DataFrame, products: DataFrame | None, cfg: BasketConfig) -> DataFrame:
    """`basket_id`, `items`: the distinct products (or categories) of an order, or of a customer over
    the last `window_days`. Single-item baskets stay (support is a share of *all* baskets, as in
    Spark's FPGrowth and mlxtend) unless `drop_single_item_baskets`."""
    if cfg.level == "category":
        if products is None:
            raise MissingInput("basket.level 'category' needs silver.products")
        lines = lines.join(
            F.broadcast(products.select("product_id", "category")), on="product_id", how="inner"
        ).withColumn("product_id", F.col("category"))
    lines = lines.where(F.col("product_id").isNotNull())
    if cfg.per_customer:
        latest = one(lines.agg(F.max("order_ts")))[0]
        lines = lines.where(F.col("order_ts") > F.lit(latest) - F.make_interval(days=F.lit(cfg.window_days)))
        key = F.col("customer_id")
    else:
        key = F.col("order_id")
    baskets = lines.groupBy(key.alias("basket_id")).agg(F.array_sort(F.collect_set("product_id")).alias(ITEMS))
    return baskets.where(F.size(ITEMS) >= (2 if cfg.drop_single_item_baskets else 1))


def drop_frequent_items(baskets: DataFrame, cfg: BasketConfig) -> DataFrame:
    """Remove items in more than `max_item_support` of baskets (a carrier bag tells nothing)."""
    if cfg.max_item_support >= 1.0:
        return baskets
    n = baskets.count()
    common = (
        baskets.select(F.explode(ITEMS).alias("item"))
        .groupBy("item")
        .count()
        .where(F.col("count") > cfg.max_item_support * n)
    )
    dropped = [r.item for r in common.collect()]  # items above a support share: at most 1/max_item_support of them
    if not dropped:
        return baskets
    kept = baskets.withColumn(ITEMS, F.array_except(ITEMS, F.array(*[F.lit(i) for i in dropped])))
    # The baskets themselves stay (support is a share of all of them) unless single-item baskets are dropped.
    return kept.where(F.size(ITEMS) >= 2) if cfg.drop_single_item_baskets else kept


def count_itemsets(baskets: DataFrame, n: int, min_support: float, cap: int, max_rows: int) -> int | None:
    """The exact number of frequent itemsets at `min_support`, counted level by level in Spark, or
    None as soon as it passes `cap` or a level would expand to more than `max_rows` rows.

    Level k extends each basket's frequent (k-1)-itemsets by the basket's later frequent items and
    keeps the k-itemsets in at least ceil(s * n) baskets. Each level's row count is known before it
    is built, so the work is bounded whatever the data: this is what lets the guard ask for exactly
    the support the data can afford.
    """
    min_count = max(1, math.ceil(min_support * n))
    items = baskets.select("basket_id", F.explode(ITEMS).alias("item"))
    singles = items.groupBy("item").count().where(F.col("count") >= min_count).select("item")
    total = singles.count()  # one number
    if total > cap:
        return None
    kept = (
        items.join(singles, on="item", how="left_semi")
        .groupBy("basket_id")
        .agg(F.array_sort(F.collect_list("item")).alias("fitems"))
        .where(F.size("fitems") >= 2)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    # An occurrence: a frequent itemset inside a basket, with the position of its last item there.
    level = kept.select("basket_id", "fitems", F.posexplode("fitems").alias("pos", "item")).select(
        "basket_id", "fitems", F.array("item").alias("itemset"), "pos"
    )
    try:
        while True:
            rows = one(level.agg(F.sum(F.size("fitems") - F.col("pos") - 1)))[0] or 0  # one number
            if rows == 0:
                return total
            if rows > max_rows:
                return None
            later = F.slice("fitems", F.col("pos") + 2, F.size("fitems"))
            grown = level.select(
                "basket_id", "fitems", "itemset", "pos", F.posexplode(later).alias("step", "item")
            ).select(
                "basket_id",
                "fitems",
                F.concat("itemset", F.array("item")).alias("itemset"),
                (F.col("pos") + F.col("step") + 1).alias("pos"),
            )
            # Local checkpoints, not caches: a cached level's plan still holds every earlier level's, twice (the
            # expansion and the filter by frequent itemsets), and Spark analyses that tree in time doubling with
            # each level; an 8-item bundle bought together took minutes. On disk, since a level grows with the
            # baskets; Spark frees the blocks with the frames.
            grown = grown.localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY)
            frequent = (
                grown.groupBy("itemset").count().where(F.col("count") >= min_count).select("itemset")
            ).localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY)
            found = frequent.count()  # one number
            total += found
            if total > cap:
                return None
            if found == 0:
                return total
            level = grown.join(frequent, on="itemset", how="left_semi")
    finally:
        kept.unpersist()


def guard(baskets: DataFrame, cfg: BasketConfig) -> GuardResult:
    """The lowest support, from `cfg.min_support` upwards, whose exact itemset count fits `max_itemsets`."""
    n = baskets.count()
    if n == 0:
        raise MissingInput("no baskets to mine: no order line with a product_id is left after the basket filters")
    support, steps = max(cfg.min_support, cfg.min_count / n), 0
    while (found := count_itemsets(baskets, n, support, cfg.max_itemsets, cfg.max_guard_rows)) is None:
        if support >= 1.0:
            raise UserError(f"even at support 1.0 there are more than basket.max_itemsets {cfg.max_itemsets} itemsets")
        support, steps = min(1.0, support * cfg.support_step), steps + 1
    return GuardResult(support, found, steps, n)


def support_note(guarded: GuardResult, cfg: BasketConfig) -> tuple[int, str] | None:
    """Why the support used differs from `cfg.min_support`, as a log level and line; None when it doesn't.

    The `min_count` floor is expected on small data (an info line); only raising it further is the explosion guard."""
    if guarded.steps:
        return logging.WARNING, (
            f"explosion guard: min_support raised from {cfg.min_support:g} to {guarded.min_support:g} "
            f"({guarded.steps} steps), where {guarded.itemsets:,} frequent itemsets fit basket.max_itemsets "
            f"{cfg.max_itemsets:,}"
        )
    if guarded.min_support > cfg.min_support:
        return logging.INFO, (
            f"min_support {guarded.min_support:g} instead of {cfg.min_support:g}: an itemset needs "
            f"basket.min_count {cfg.min_count:,} of the {guarded.baskets:,} baskets"
        )
    return None


def no_rules_note(model: FPGrowthModel, guarded: GuardResult, cfg: BasketConfig) -> str:
    """Why no rule was kept: the most confident rule the frequent itemsets give, or that no two items co-occur."""
    strongest = (
        model.copy({model.minConfidence: 0.0})  # copy() hands the param to the JVM's model; a setter would not
        .associationRules.orderBy(F.desc("confidence"), F.size("antecedent"))
        .select("antecedent", "consequent", "confidence")
        .first()  # one row: the strongest rule
    )
    if strongest is None:
        return (
            f"no association rule: no two items share baskets often enough (an itemset needs a share of "
            f"{guarded.min_support:g} of the {guarded.baskets:,} baskets: basket.min_support, basket.min_count)"
        )
    return (
        f"no association rule reaches basket.min_confidence {cfg.min_confidence:g}: the most confident of the "
        f"{guarded.itemsets:,} frequent itemsets' rules, {'+'.join(strongest.antecedent)} -> "
        f"{'+'.join(strongest.consequent)}, has {strongest.confidence:.3f}"
    )


def fit(baskets: DataFrame, cfg: BasketConfig, min_support: float) -> FPGrowthModel:
    fp = FPGrowth(itemsCol=ITEMS, minSupport=min_support, minConfidence=cfg.min_confidence, predictionCol="prediction")
    if cfg.num_partitions:
        fp = fp.setNumPartitions(cfg.num_partitions)
    return fp.fit(baskets)


def itemsets(model: FPGrowthModel, n: int, cfg: BasketConfig, min_support: float) -> DataFrame:
    out = model.freqItemsets.select(F.array_sort("items").alias("items"), F.col("freq").cast("long").alias("freq"))
    out = out.select(
        "items",
        "freq",
        (F.col("freq") / F.lit(n)).alias("support"),
        F.size("items").alias("size"),
        F.lit(min_support).alias("min_support_used"),
    )
    return out.where(F.col("size") <= cfg.max_itemset_length) if cfg.max_itemset_length else out


def rules(model: FPGrowthModel, n: int, cfg: BasketConfig, min_support: float) -> DataFrame:
    """Rules with support, confidence, lift, leverage, conviction and the counts they come from."""
    counts = model.freqItemsets.select(F.array_sort("items").alias("items"), F.col("freq").cast("long").alias("freq"))
    ante = counts.select(F.col("items").alias("antecedent"), F.col("freq").alias("antecedent_count"))
    cons = counts.where(F.size("items") == 1).select(
        F.col("items").alias("consequent"), F.col("freq").alias("consequent_count")
    )
    both = counts.select(F.col("items").alias("_union"), F.col("freq").alias("rule_count"))
    out = (
        model.associationRules.select(
            F.array_sort("antecedent").alias("antecedent"), F.array_sort("consequent").alias("consequent"), "confidence"
        )
        .withColumn("_union", F.array_sort(F.array_union("antecedent", "consequent")))
        .join(ante, on="antecedent", how="inner")
        .join(cons, on="consequent", how="inner")
        .join(both, on="_union", how="inner")
    )
    p_b = F.col("consequent_count") / F.lit(n)
    support = F.col("rule_count") / F.lit(n)
    out = out.select(
        "antecedent",
        "consequent",
        support.alias("support"),
        "confidence",
        (F.col("confidence") / p_b).alias("lift"),
        (support - (F.col("antecedent_count") / F.lit(n)) * p_b).alias("leverage"),
        F.when(F.col("confidence") < 1, (1 - p_b) / (1 - F.col("confidence"))).alias("conviction"),
        "antecedent_count",
        "consequent_count",
        "rule_count",
        F.lit(n).cast("long").alias("basket_count"),
        F.lit(min_support).alias("min_support_used"),
    )
    if cfg.max_itemset_length:
        out = out.where(F.size("antecedent") + F.size("consequent") <= cfg.max_itemset_length)
    return out


def bought_together(rule_df: DataFrame, cfg: BasketConfig) -> DataFrame:
    """Per product, the top consequents of single-item rules by lift, above a minimum confidence."""
    from pyspark.sql import Window

    singles = rule_df.where((F.size("antecedent") == 1) & (F.col("confidence") >= cfg.together_min_confidence))
    rank = F.row_number().over(
        Window.partitionBy("product_id").orderBy(F.desc("lift"), F.desc("confidence"), "together_with")
    )
    return (
        singles.select(
            F.col("antecedent")[0].alias("product_id"),
            F.col("consequent")[0].alias("together_with"),
            "lift",
            "confidence",
            "support",
        )
        .withColumn("rank", rank)
        .where(F.col("rank") <= cfg.together_top_n)
        .select("product_id", "rank", "together_with", "lift", "confidence", "support")
    )
