"""P(click | contact): a factorization machine and a logistic regression on the same hashed features.

The features are sparse categories, hashed by MLlib's FeatureHasher: the customer's top category and device,
the offer's category, the channel and the hour the contact is sent. A logistic regression weighs each one on
its own; a factorization machine also learns their pairwise interactions through low-rank factors (the
customer's taste against the offer's category, the device against the channel), which is why it is the
classic click model for crossed sparse features.
"""

from __future__ import annotations

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import FMClassifier, LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import FeatureHasher
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pmkt.libs.config import CtrConfig
from pmkt.libs.frames import one

METHODS = ("logreg", "fm")
FEATURES = ("top_category", "offer_category", "channel", "send_hour", "device")
LABEL, HASHED, P_CLICK = "label", "_hashed", "p_click"


def features(df: DataFrame, hour: Column, cfg: CtrConfig) -> DataFrame:
    """`df` (with top_category, offer_category, channel and mobile_share) plus the model's categorical columns;
    `hour` is the hour the contact is (or will be) sent."""
    device = F.when(F.col("mobile_share") >= F.lit(cfg.mobile_share), F.lit("mobile")).otherwise(F.lit("other"))
    return (
        df.withColumn("send_hour", F.coalesce(hour.cast("string"), F.lit("unknown")))
        .withColumn("device", F.when(F.col("mobile_share").isNull(), F.lit("unknown")).otherwise(device))
        .withColumn("top_category", F.coalesce(F.col("top_category"), F.lit("none")))
        .withColumn("offer_category", F.coalesce(F.col("offer_category"), F.lit("none")))
        .withColumn("channel", F.coalesce(F.col("channel"), F.lit("unknown")))
    )


def estimator(method: str, cfg: CtrConfig) -> Pipeline:
    hasher = FeatureHasher(
        inputCols=list(FEATURES), categoricalCols=list(FEATURES), outputCol=HASHED, numFeatures=cfg.hash_features
    )
    clf: FMClassifier | LogisticRegression
    if method == "fm":
        clf = FMClassifier(
            factorSize=cfg.factor_size,
            regParam=cfg.reg_param,
            maxIter=cfg.fm_iterations,
            stepSize=cfg.step_size,
            seed=cfg.seed,
        )
    else:
        clf = LogisticRegression(regParam=cfg.reg_param)
    clf.setFeaturesCol(HASHED).setLabelCol(LABEL).setPredictionCol("_prediction")
    clf.setProbabilityCol("_probability").setRawPredictionCol("_raw")
    return Pipeline(stages=[hasher, clf])


def score(model: PipelineModel, rows: DataFrame) -> DataFrame:
    """`rows` with `p_click`."""
    return model.transform(rows).select(*rows.columns, vector_to_array(F.col("_probability"))[1].alias(P_CLICK))


def evaluate(scored: DataFrame) -> dict[str, float]:
    """ROC AUC and log loss of `p_click` against the label (probabilities clipped to [1e-15, 1 − 1e-15])."""
    auc = BinaryClassificationEvaluator(labelCol=LABEL, rawPredictionCol=P_CLICK, metricName="areaUnderROC")
    p = F.least(F.greatest(F.col(P_CLICK), F.lit(1e-15)), F.lit(1 - 1e-15))
    loss = -(F.col(LABEL) * F.log(p) + (1 - F.col(LABEL)) * F.log(1 - p))
    row = one(scored.agg(F.avg(loss), F.avg(LABEL), F.count(F.lit(1))))
    return {"roc_auc": auc.evaluate(scored), "log_loss": row[0], "click_rate": row[1], "contacts": float(row[2])}
