"""Segmentation: impute, log-transform, scale, optional PCA, then a clusterer with k chosen by silhouette."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.ml import Estimator, Pipeline, PipelineModel
from pyspark.ml.clustering import BisectingKMeans, GaussianMixture, KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import PCA, Imputer, SQLTransformer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pmkt.libs.config import SegmentConfig
from pmkt.libs.contracts.features import CUSTOMER_FEATURES
from pmkt.libs.errors import ConfigError
from pmkt.libs.frames import one

SCALED, PROJECTED, PREDICTION = "_seg_scaled", "_seg_pca", "segment_id"
NO_ACTIVITY_ID, NO_ACTIVITY_NAME = -1, "No activity yet"


@dataclass(frozen=True)
class KScore:
    k: int
    silhouette: float
    cost: float


def check_names(cfg: SegmentConfig) -> None:
    """Every feature the segment config names is a column of gold.customer_features: a misspelt one would
    otherwise be left out as a feature without data."""
    for key in ("features", "fallback_features", "log_features", "profile_features"):
        for name in getattr(cfg, key):
            if not any(c.matches(name) for c in CUSTOMER_FEATURES.columns):
                raise ConfigError(
                    f"config key 'segment.{key}' names '{name}', which is not a column of gold.customer_features "
                    "(docs/tables.md lists them)"
                )


def usable_features(df: DataFrame, features: Sequence[str]) -> list[str]:
    """The configured features present in `df` with at least one non-null value (one aggregate row)."""
    present = [f for f in features if f in df.columns]
    if not present:
        return []
    row = one(df.agg(*[F.count(F.col(f)).alias(f) for f in present]))
    return [f for f in present if row[f] > 0]


def has_behaviour(features: Sequence[str]) -> Column:
    """At least one segmentation feature is known; a customer with none can't be placed by behaviour."""
    return (
        F.greatest(*[F.col(f).isNotNull() for f in features]) if len(features) > 1 else F.col(features[0]).isNotNull()
    )


def prepare(df: DataFrame, features: Sequence[str]) -> DataFrame:
    """Model inputs as doubles (MLlib's Imputer wants floating point), for customers with some behaviour."""
    return df.where(has_behaviour(features)).select(
        "customer_id", "snapshot_date", *[F.col(f).cast("double").alias(f) for f in features]
    )


def no_activity(df: DataFrame, features: Sequence[str]) -> DataFrame:
    """Customers without any segmentation feature, in the same shape as `assign`'s output."""
    return df.where(~has_behaviour(features)).select(
        "customer_id",
        "snapshot_date",
        F.lit(NO_ACTIVITY_ID).alias(PREDICTION),
        F.lit(None).cast("double").alias("distance"),
        F.lit(None).cast("double").alias("nearest_distance"),
    )


def prep_stages(cfg: SegmentConfig, features: Sequence[str]) -> list:
    """Impute (median) -> log1p for skewed columns -> assemble -> standardise -> optional PCA."""
    imputed = [f"_seg_imp_{f}" for f in features]
    transformed = ", ".join(
        (f"LOG1P(GREATEST(`{i}`, 0D)) AS `_seg_tx_{f}`" if f in cfg.log_features else f"`{i}` AS `_seg_tx_{f}`")
        for f, i in zip(features, imputed, strict=True)
    )
    stages = [
        Imputer(strategy="median", inputCols=list(features), outputCols=imputed),
        SQLTransformer(statement=f"SELECT *, {transformed} FROM __THIS__"),
        VectorAssembler(inputCols=[f"_seg_tx_{f}" for f in features], outputCol="_seg_raw"),
        StandardScaler(inputCol="_seg_raw", outputCol=SCALED, withMean=True, withStd=True),
    ]
    if cfg.pca_components:
        stages.append(PCA(k=min(cfg.pca_components, len(features)), inputCol=SCALED, outputCol=PROJECTED))
    return stages


def feature_col(cfg: SegmentConfig) -> str:
    return PROJECTED if cfg.pca_components else SCALED


def clusterer(cfg: SegmentConfig, k: int) -> Estimator:
    common: dict[str, Any] = {
        "k": k,
        "seed": cfg.seed,
        "maxIter": cfg.max_iter,
        "featuresCol": feature_col(cfg),
        "predictionCol": PREDICTION,
    }
    if cfg.algorithm == "bisecting_kmeans":
        return BisectingKMeans(**common)
    if cfg.algorithm == "gaussian_mixture":
        return GaussianMixture(probabilityCol="_seg_probability", **common)
    return KMeans(initMode="k-means||", **common)


def _cost(model: Any) -> float:  # a fitted KMeans, BisectingKMeans or GaussianMixture model
    summary = model.summary
    return float(-summary.logLikelihood if hasattr(summary, "logLikelihood") else summary.trainingCost)


@dataclass(frozen=True)
class Selection:
    """The k search: a score per k and, when it saw every row, each k's fitted model (the final model for that k)."""

    scores: list[KScore]
    models: dict[int, PipelineModel]  # empty when k was chosen on a sample


def select_k(df: DataFrame, cfg: SegmentConfig, features: Sequence[str]) -> Selection:
    """Silhouette and cost for each k in [k_min, k_max] (the preprocessing is fitted once)."""
    whole = cfg.selection_sample >= 1
    sample = df if whole else df.sample(fraction=cfg.selection_sample, seed=cfg.seed)
    prep = Pipeline(stages=prep_stages(cfg, features)).fit(sample)
    prepared = prep.transform(sample).cache()
    evaluator = ClusteringEvaluator(featuresCol=feature_col(cfg), predictionCol=PREDICTION, metricName="silhouette")
    scores, models = [], {}
    try:
        for k in range(cfg.k_min, cfg.k_max + 1):
            model = clusterer(cfg, k).fit(prepared)
            scores.append(KScore(k, float(evaluator.evaluate(model.transform(prepared))), _cost(model)))
            if whole:  # the same rows, stages and seed as a final fit: keeping it saves fitting k twice
                models[k] = PipelineModel(stages=[*prep.stages, model])
    finally:
        prepared.unpersist()
    return Selection(scores, models)


def best_k(scores: Sequence[KScore]) -> int:
    """The highest silhouette; on a tie, the smaller k."""
    return max(scores, key=lambda s: (round(s.silhouette, 6), -s.k)).k


def fit(
    df: DataFrame, cfg: SegmentConfig, features: Sequence[str], k: int, selection: Selection | None = None
) -> PipelineModel:
    """The final model on every row: the selection's own for k when it saw every row, else a new fit."""
    if selection is not None and k in selection.models:
        return selection.models[k]
    return Pipeline(stages=[*prep_stages(cfg, features), clusterer(cfg, k)]).fit(df)


def centroids(model: PipelineModel) -> list[list[float]]:
    """Cluster centres in the model's feature space (k x d numbers)."""
    last: Any = model.stages[-1]  # KMeans-like models have centres, a GaussianMixtureModel has gaussians
    if hasattr(last, "clusterCenters"):
        return [list(map(float, c)) for c in last.clusterCenters()]
    return [list(map(float, g.mean)) for g in last.gaussians]


def _distance(vec: Column, centre: Sequence[float]) -> Column:
    diffs = F.zip_with(vec, F.array(*[F.lit(float(x)) for x in centre]), lambda a, b: (a - b) * (a - b))
    return F.sqrt(F.aggregate(diffs, F.lit(0.0), lambda acc, x: acc + x))


def assign(
    model: PipelineModel,
    df: DataFrame,
    cfg: SegmentConfig,
    centres: Sequence[Sequence[float]],
    vector_col: str | None = None,
) -> DataFrame:
    """Segment id, distance to its centroid and distance to the nearest centroid, per customer.

    `vector_col` is the space the model clusters in (as saved with it); by default, the conf's.
    """
    scored = model.transform(df).withColumn("_vec", vector_to_array(F.col(vector_col or feature_col(cfg))))
    per_centre = [_distance(F.col("_vec"), c) for c in centres]
    return scored.select(
        "customer_id",
        "snapshot_date",
        F.col(PREDICTION).cast("int").alias(PREDICTION),
        F.element_at(F.array(*per_centre), F.col(PREDICTION) + 1).alias("distance"),
        F.array_min(F.array(*per_centre)).alias("nearest_distance"),
    )


def outlier_threshold(assigned: DataFrame, quantile: float) -> float:
    return float(one(assigned.agg(F.percentile_approx("nearest_distance", quantile, 10000)))[0])
