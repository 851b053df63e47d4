"""Out-of-sample evaluation: ROC and PR AUC, Brier score, calibration and lift/gain by decile."""

from __future__ import annotations

from typing import Any, Literal

from pyspark.ml import PipelineModel
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs.classify.model import LABEL
from pmkt.libs.frames import one

CURVE_SCHEMA = "variant string, kind string, point int, x double, y double, customers long"
DECILES = [i / 10 for i in range(1, 10)]


def scalar_metrics(scored: DataFrame, prob: str) -> dict[str, float]:
    """roc_auc and pr_auc from MLlib's evaluator on the probability, plus the Brier score."""
    as_raw = scored.select(F.col(LABEL).cast("double").alias(LABEL), F.col(prob).cast("double").alias("_p"))
    out = {}
    curves: tuple[tuple[Literal["areaUnderROC", "areaUnderPR"], str], ...] = (
        ("areaUnderROC", "roc_auc"),
        ("areaUnderPR", "pr_auc"),
    )
    for metric, name in curves:
        out[name] = float(
            BinaryClassificationEvaluator(labelCol=LABEL, rawPredictionCol="_p", metricName=metric).evaluate(as_raw)
        )
    row = one(as_raw.agg(F.avg((F.col("_p") - F.col(LABEL)) ** 2).alias("brier"), F.avg(LABEL).alias("base_rate")))
    out["brier"], out["base_rate"] = float(row.brier), float(row.base_rate)
    return out


def holdout(fitted: PipelineModel, test: DataFrame) -> tuple[DataFrame, dict[str, float]]:
    """Score `test` once (cached: every metric and curve reads it) and measure it.

    The caller unpersists the returned DataFrame when done with it.
    """
    from pmkt.libs.classify.model import PROBABILITY, probability

    predicted = fitted.transform(test)
    scored = predicted.withColumn(PROBABILITY, probability(predicted)).cache()
    return scored, scalar_metrics(scored, PROBABILITY)


def with_decile(scored: DataFrame, prob: str) -> DataFrame:
    """decile 1 = the 10% with the highest predicted probability (cut points from percentile_approx)."""
    cuts = one(scored.agg(F.percentile_approx(prob, DECILES, 10000)))[0]  # nine numbers
    below = sum((F.col(prob) > F.lit(float(c))).cast("int") for c in cuts)
    return scored.withColumn("decile", F.lit(10) - below)


def curves(spark: SparkSession, scored: DataFrame, prob: str, variant: str) -> DataFrame:
    """Calibration (mean predicted vs observed) and lift / cumulative gain per decile: at most 30 rows."""
    by_decile = (
        with_decile(scored, prob)
        .groupBy("decile")
        .agg(
            F.avg(prob).alias("predicted"),
            F.avg(LABEL).alias("observed"),
            F.count(F.lit(1)).alias("n"),
            F.sum(LABEL).alias("pos"),
        )
        .orderBy("decile")
        .collect()  # ten deciles
    )
    total = sum(r.n for r in by_decile)
    positives = sum(r.pos for r in by_decile) or 1.0
    base = positives / total
    rows, cumulative = [], 0.0
    for r in by_decile:
        cumulative += r.pos
        rows += [
            (variant, "calibration", int(r.decile), float(r.predicted), float(r.observed), int(r.n)),
            (variant, "lift", int(r.decile), float(r.decile), float(r.observed / base), int(r.n)),
            (variant, "gain", int(r.decile), float(r.decile), float(cumulative / positives), int(r.n)),
        ]
    return spark.createDataFrame(rows, CURVE_SCHEMA)


def top_decile_lift(curve: DataFrame) -> float:
    row = curve.where((F.col("kind") == "lift") & (F.col("point") == 1)).first()
    return float(row.y) if row else 0.0


def roc_points(spark: SparkSession, fitted: PipelineModel, test: DataFrame, variant: str) -> DataFrame:
    """The ROC curve of a fitted logistic pipeline on `test`, from MLlib's summary (about 100 points)."""
    prepared = PipelineModel(stages=fitted.stages[:-1]).transform(test)
    regression: Any = fitted.stages[-1]  # a LogisticRegressionModel
    roc = regression.evaluate(prepared).roc.collect()  # bounded: MLlib bins the curve
    rows = [(variant, "roc", i, float(r.FPR), float(r.TPR), 0) for i, r in enumerate(roc)]
    return spark.createDataFrame(rows, CURVE_SCHEMA)
