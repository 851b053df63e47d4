"""Ranking metrics of served top-k lists against what customers did after the split, with MLlib's evaluator."""
from __future__ import annotations

from pyspark.ml.evaluation import RankingEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

METRICS = {"precision": "precisionAtK", "recall": "recallAtK", "ndcg": "ndcgAtK", "map": "meanAveragePrecisionAtK"}


def ranking_lists(recs: DataFrame, truth: DataFrame, product_index: DataFrame) -> DataFrame:
    """One row per customer in `truth`: `prediction` (recommended item ids in rank order, possibly
    empty) and `label` (relevant item ids), as the double arrays RankingEvaluator reads."""
    idx = product_index.select("product_id", F.col("item_idx").cast("double").alias("item"))
    relevant = truth.join(idx, on="product_id", how="inner").groupBy("customer_id").agg(F.collect_set("item").alias("label"))
    ranked = recs.join(idx, on="product_id", how="inner").groupBy("customer_id").agg(
        F.transform(F.array_sort(F.collect_list(F.struct("rank", "item"))), lambda x: x["item"]).alias("prediction"))
    empty = F.array().cast("array<double>")
    return relevant.join(ranked, on="customer_id", how="left").select(
        "customer_id", F.coalesce("prediction", empty).alias("prediction"), "label")


def ranking_metrics(lists: DataFrame, k: int) -> dict[str, float]:
    """precision@k, recall@k, ndcg@k and map@k over every customer in `lists`."""
    lists = lists.cache()
    try:
        return {f"{name}@{k}": float(RankingEvaluator(predictionCol="prediction", labelCol="label", metricName=metric, k=k).evaluate(lists))
                for name, metric in METRICS.items()}
    finally:
        lists.unpersist()


def coverage(recs: DataFrame, catalogue_size: int) -> float:
    """Share of a catalogue of `catalogue_size` products that appears in at least one customer's list."""
    shown = recs.select("product_id").distinct().count()  # one number
    return shown / catalogue_size if catalogue_size else 0.0
