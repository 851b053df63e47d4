"""Ranking metrics of served top-k lists against what customers did after the split, with MLlib's evaluator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pyspark.ml.evaluation import RankingEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

RankingMetric = Literal["precisionAtK", "recallAtK", "ndcgAtK", "meanAveragePrecisionAtK"]
METRICS: dict[str, RankingMetric] = {
    "precision": "precisionAtK",
    "recall": "recallAtK",
    "ndcg": "ndcgAtK",
    "map": "meanAveragePrecisionAtK",
}


def ranking_lists(
    recs: DataFrame, truth: DataFrame, product_index: DataFrame, by: str | None = None, variants: Sequence[str] = ()
) -> DataFrame:
    """One row per customer in `truth`: `prediction` (recommended item ids in rank order, possibly
    empty) and `label` (relevant item ids), as the double arrays RankingEvaluator reads.

    With `by`, `recs` holds several `variants` (methods) told apart by that column, and every customer
    gets one row per variant: all of them are ranked in one pass.
    """
    idx = product_index.select("product_id", F.col("item_idx").cast("double").alias("item"))
    relevant = (
        truth.join(idx, on="product_id", how="inner").groupBy("customer_id").agg(F.collect_set("item").alias("label"))
    )
    keys = ["customer_id"]
    if by is not None:
        names = recs.sparkSession.createDataFrame([(v,) for v in variants], f"`{by}` string")
        relevant, keys = relevant.crossJoin(F.broadcast(names)), [by, "customer_id"]
    ranked = (
        recs.join(idx, on="product_id", how="inner")
        .groupBy(*keys)
        .agg(
            F.transform(F.array_sort(F.collect_list(F.struct("rank", "item"))), lambda x: x["item"]).alias("prediction")
        )
    )
    empty = F.array().cast("array<double>")
    return relevant.join(ranked, on=keys, how="left").select(
        *keys, F.coalesce("prediction", empty).alias("prediction"), "label"
    )


def ranking_metrics(lists: DataFrame, k: int, names: Sequence[str] = tuple(METRICS)) -> dict[str, float]:
    """precision@k, recall@k, ndcg@k and map@k (or just `names` of them) over every customer in `lists`."""
    return ranking_metrics_by(lists, k, None, [""], names)[""]


def ranking_metrics_by(
    lists: DataFrame, k: int, by: str | None, variants: Sequence[str], names: Sequence[str] = tuple(METRICS)
) -> dict[str, dict[str, float]]:
    """`ranking_metrics` per variant of lists told apart by the column `by`, read from one materialised frame.

    Checkpointed rather than cached: each evaluation is a new query, and matching a cache means analysing
    the lists' whole plan again (every source, blend and serving rule: seconds each time).
    """
    lists = lists.localCheckpoint(eager=True)
    out = {}
    for variant in variants:
        mine = lists if by is None else lists.where(F.col(by) == variant)
        out[variant] = {
            f"{name}@{k}": float(
                RankingEvaluator(predictionCol="prediction", labelCol="label", metricName=METRICS[name], k=k).evaluate(
                    mine
                )
            )
            for name in names
        }
    return out


def coverage(recs: DataFrame, catalogue_size: int) -> float:
    """Share of a catalogue of `catalogue_size` products that appears in at least one customer's list."""
    shown = recs.select("product_id").distinct().count()  # one number
    return shown / catalogue_size if catalogue_size else 0.0


def coverage_by(recs: DataFrame, catalogue_size: int, by: str) -> dict[str, float]:
    """`coverage` per variant of `recs` told apart by the column `by`, in one pass."""
    shown = recs.groupBy(by).agg(F.count_distinct("product_id").alias("n")).collect()  # a row per variant
    return {r[by]: (r["n"] / catalogue_size if catalogue_size else 0.0) for r in shown}
