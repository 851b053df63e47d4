"""The classifier: build the pipeline (no data), then fit, evaluate and explain."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import Imputer, OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pmkt.libs.errors import MissingInput
from pmkt.libs.frames import laid_out, one
from pmkt.libs.log import get_logger

log = get_logger(__name__)

LABEL = "label"  # 1.0: the event the model predicts (churned, bought, converted); 0.0: it did not happen
WEIGHT, SCALED, PROBABILITY = "_weight", "_scaled", "positive_probability"
ROW_KEYS = ("customer_id", "snapshot_date")  # a model input's row: a customer as of a cutoff (or a campaign's start)


@dataclass(frozen=True)
class Spec:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    def slots(self, model: PipelineModel) -> list[str]:
        """Readable names of the assembled vector's slots: numerics, then one per category level."""
        names = list(self.numeric)
        for stage in model.stages:
            if hasattr(stage, "labelsArray"):  # the fitted StringIndexer
                # With handleInvalid="keep" on both the indexer and the encoder, every seen level keeps
                # a slot and one more slot stands for levels unseen in training.
                for col, labels in zip(self.categorical, stage.labelsArray, strict=True):
                    names += [f"{col}={level}" for level in labels] + [f"{col}=unseen"]
        return names


def observed(spec: Spec, rows: DataFrame) -> Spec:
    """`spec` without the numeric features that are null in every one of `rows` (the event features of a shop that
    exports no events): MLlib's Imputer has no median to fill them with and fails the fit."""
    counts = one(rows.agg(*[F.count(F.col(c)).alias(c) for c in spec.numeric])) if spec.numeric else None  # one row
    empty = [c for c in spec.numeric if counts is not None and not counts[c]]
    if empty:
        log.info("features with no value in the training rows, left out: %s", ", ".join(empty))
    kept = Spec(tuple(c for c in spec.numeric if c not in empty), spec.categorical)
    if not kept.numeric and not kept.categorical:
        raise MissingInput("none of the model's features has a value in the training rows")
    return kept


def feature_stages(spec: Spec) -> list:
    stages: list = []
    inputs = []
    if spec.numeric:
        stages.append(
            Imputer(strategy="median", inputCols=list(spec.numeric), outputCols=[f"_imp_{c}" for c in spec.numeric])
        )
        inputs += [f"_imp_{c}" for c in spec.numeric]
    if spec.categorical:
        stages.append(
            StringIndexer(
                inputCols=list(spec.categorical),
                outputCols=[f"_idx_{c}" for c in spec.categorical],
                handleInvalid="keep",
            )
        )
        stages.append(
            OneHotEncoder(
                inputCols=[f"_idx_{c}" for c in spec.categorical],
                outputCols=[f"_ohe_{c}" for c in spec.categorical],
                handleInvalid="keep",
            )
        )
        inputs += [f"_ohe_{c}" for c in spec.categorical]
    stages.append(VectorAssembler(inputCols=inputs, outputCol="_assembled", handleInvalid="keep"))
    stages.append(StandardScaler(inputCol="_assembled", outputCol=SCALED, withMean=True, withStd=True))
    return stages


def logistic() -> LogisticRegression:
    return LogisticRegression(
        featuresCol=SCALED,
        labelCol=LABEL,
        weightCol=WEIGHT,
        probabilityCol="_probability",
        rawPredictionCol="_raw",
        predictionCol="_prediction",
    )


def prepare(df: DataFrame, spec: Spec, balance: bool = True) -> DataFrame:
    """Typed model inputs plus class weights: balanced for churn; all 1 where probabilities must stay
    calibrated (propensity and response feed expected-value calculations)."""
    cols = [F.col(c).cast("double").alias(c) for c in spec.numeric] + [
        F.coalesce(F.col(c).cast("string"), F.lit("unknown")).alias(c) for c in spec.categorical
    ]
    out = df.select("customer_id", "snapshot_date", *cols, *([F.col(LABEL)] if LABEL in df.columns else []))
    if LABEL not in df.columns:
        return out
    if not balance:
        return out.withColumn(WEIGHT, F.lit(1.0))
    rate = one(out.agg(F.avg(LABEL)))[0] or 0.5  # one number
    return out.withColumn(WEIGHT, F.when(F.col(LABEL) == 1, 0.5 / rate).otherwise(0.5 / (1 - rate)))


def tune(
    train: DataFrame, spec: Spec, reg: Sequence[float], enet: Sequence[float], folds: int, seed: int
) -> PipelineModel:
    """Logistic regression with regParam x elasticNetParam chosen by k-fold cross-validated ROC AUC.

    The feature stages are fitted once, on all training rows, and only the regression is cross-validated:
    imputing medians, level indexes and scaling moments never read the label, so sharing them across folds
    leaks nothing a fold could be scored on, and it saves refitting them for every fold and grid point.
    """
    prep = Pipeline(stages=feature_stages(spec)).fit(train)
    data = prep.transform(train).select(SCALED, LABEL, WEIGHT).cache()
    try:
        lr = logistic()
        grid = ParamGridBuilder().addGrid(lr.regParam, list(reg)).addGrid(lr.elasticNetParam, list(enet)).build()
        evaluator = BinaryClassificationEvaluator(
            labelCol=LABEL, rawPredictionCol="_raw", weightCol=WEIGHT, metricName="areaUnderROC"
        )
        cv = CrossValidator(
            estimator=lr, estimatorParamMaps=grid, evaluator=evaluator, numFolds=folds, seed=seed, parallelism=len(grid)
        )
        return PipelineModel(stages=[*prep.stages, cv.fit(data).bestModel])
    finally:
        data.unpersist()


def model_input(df: DataFrame) -> DataFrame:
    """`df` computed once, with its lineage cut, on local disk, laid out by its values (`frames.laid_out`) in the
    default parallelism's partitions: the input of iterative fits, which run a Spark job per iteration.

    Every job's tasks carry the serialised lineage of the rows they read. For a cached frame that is every
    snapshot, join and file its rows came from, sent again with each iteration; checkpointed, it is one RDD
    (`pmkt churn` took 0.90 of the time). On disk, not in memory: each fit holds its own instances in memory,
    so the 2 GiB driver keeps no second copy. The blocks go when the frame is garbage. Laid out, the same rows fit
    the same trees and forests however the lake's files hold them (a snapshot stored by an earlier run).
    """
    return laid_out(df, ROW_KEYS).localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY)


def fit_logistic(train: DataFrame, spec: Spec, reg: float = 0.01, enet: float = 0.0) -> PipelineModel:
    """One weighted logistic regression with fixed regularisation (no tuning)."""
    return Pipeline(stages=[*feature_stages(spec), logistic().setRegParam(reg).setElasticNetParam(enet)]).fit(train)


def gbt(train: DataFrame, spec: Spec, seed: int, trees: int, depth: int) -> PipelineModel:
    clf = GBTClassifier(
        featuresCol=SCALED,
        labelCol=LABEL,
        weightCol=WEIGHT,
        maxIter=trees,
        maxDepth=depth,
        seed=seed,
        predictionCol="_prediction",
    )
    clf = clf.setProbabilityCol("_probability").setRawPredictionCol("_raw")
    return Pipeline(stages=[*feature_stages(spec), clf]).fit(train)


def probability(scored: DataFrame) -> Column:
    return vector_to_array(F.col("_probability"))[1]


def humanise(column: str) -> str:
    """A column name as words: MonthlyCharges and monthly_charges both read "monthly charges"."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", column).replace("_", " ").strip().lower()


def reason_codes(model: PipelineModel, spec: Spec, names: Mapping[str, str], top: int = 3) -> Column:
    """The `top` features that push the score up most, in words.

    A feature's push is the sum of coefficient x standardised value over its slots: one slot for a
    number, one per level for a category, so a category's push compares the customer's own level with
    the average customer. A category is named with the customer's own value ("contract:
    Month-to-month"), never with a level the customer doesn't have. Names come from `names`, else from
    the column name made human.
    """
    regression: Any = model.stages[-1]  # a LogisticRegressionModel
    coefs = [float(c) for c in regression.coefficients]
    levels: list[list[str]] = next((stage.labelsArray for stage in model.stages if hasattr(stage, "labelsArray")), [])
    widths = [1] * len(spec.numeric) + [len(labels) + 1 for labels in levels]  # + the unseen-level slot
    if sum(widths) != len(coefs):
        raise ValueError(f"{len(coefs)} coefficients for {sum(widths)} feature slots")
    push = F.zip_with(vector_to_array(F.col(SCALED)), F.array(*[F.lit(c) for c in coefs]), lambda x, c: x * c)
    words = [F.lit(names.get(c, humanise(c))) for c in spec.numeric]
    words += [F.concat(F.lit(f"{names.get(c, humanise(c))}: "), F.col(c)) for c in spec.categorical]
    starts = [sum(widths[:i]) for i in range(len(widths))]
    features = F.array(
        *[
            F.struct(
                F.aggregate(F.slice(push, start + 1, width), F.lit(0.0), lambda acc, x: acc + x).alias("push"),
                why.alias("why"),
            )
            for start, width, why in zip(starts, widths, words, strict=True)
        ]
    )
    ranked = F.array_sort(
        F.filter(features, lambda e: e["push"] > 0),
        lambda a, b: F.when(a["push"] > b["push"], -1).when(a["push"] < b["push"], 1).otherwise(0),
    )
    return F.transform(F.slice(ranked, 1, top), lambda e: e["why"])


def coefficients(model: PipelineModel, spec: Spec) -> list[tuple[str, float]]:
    """(slot name, coefficient on the standardised scale), largest magnitude first; bounded by the features."""
    regression: Any = model.stages[-1]  # a LogisticRegressionModel
    pairs = list(zip(spec.slots(model), [float(c) for c in regression.coefficients], strict=True))
    return sorted(pairs, key=lambda p: -abs(p[1]))
