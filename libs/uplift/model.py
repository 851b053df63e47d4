"""Two uplift estimators from MLlib random forests, built without data, then fitted and scored.

- **T-learner:** one forest on treated contacts and one on control contacts; the uplift is P(convert | treated)
  − P(convert | control).
- **Class transformation** (Jaskowski and Jaroszewicz 2012): one forest on Z = 1 for a treated conversion or
  a control non-conversion. With treatment and control weighted to equal totals, P(Z = 1 | x) = (1 + uplift) / 2,
  so the uplift is 2·P(Z = 1 | x) − 1.

Both share the classifiers' label-free feature stages (imputer, one-hot encoder, assembler), fitted once.
"""

from __future__ import annotations

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import RandomForestClassifier
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pmkt.libs.classify.model import LABEL, SCALED, WEIGHT, Spec, feature_stages
from pmkt.libs.config import UpliftConfig
from pmkt.libs.errors import MissingInput
from pmkt.libs.frames import one

METHODS = ("t_learner", "class_transformation")
UPLIFT = "uplift"


def is_treated() -> Column:
    return F.col("group") == "treatment"


def forest(cfg: UpliftConfig, suffix: str) -> RandomForestClassifier:
    """A weighted random forest whose output columns end in `suffix`, so two can score the same rows."""
    return RandomForestClassifier(
        featuresCol=SCALED,
        labelCol=LABEL,
        weightCol=WEIGHT,
        numTrees=cfg.num_trees,
        maxDepth=cfg.max_depth,
        minInstancesPerNode=cfg.min_instances_per_node,
        seed=cfg.seed,
        probabilityCol=f"_probability_{suffix}",
        rawPredictionCol=f"_raw_{suffix}",
        predictionCol=f"_prediction_{suffix}",
    )


def fit(rows: DataFrame, spec: Spec, cfg: UpliftConfig, method: str) -> PipelineModel:
    """`rows`: contacts with `group` (treatment or control), the label (converted) and the spec's features."""
    share = one(rows.agg(F.avg(is_treated().cast("double"))))[0]  # one number
    if share is None or not 0 < share < 1:
        raise MissingInput(
            "uplift models need both treated and control contacts (silver.campaign_contacts.group = 'control' "
            "for customers held out of a campaign)"
        )
    prep = Pipeline(stages=feature_stages(spec)).fit(rows)
    data = prep.transform(rows)
    if method == "t_learner":
        unit = data.withColumn(WEIGHT, F.lit(1.0))
        treated = forest(cfg, "treated").fit(unit.where(is_treated()))
        control = forest(cfg, "control").fit(unit.where(~is_treated()))
        return PipelineModel(stages=[*prep.stages, treated, control])
    transformed = data.withColumn(
        LABEL,
        (is_treated() == (F.col(LABEL) == 1.0)).cast("double"),  # treated and converted, or control and not
    ).withColumn(WEIGHT, F.when(is_treated(), 0.5 / share).otherwise(0.5 / (1 - share)))
    return PipelineModel(stages=[*prep.stages, forest(cfg, "z").fit(transformed)])


def score(model: PipelineModel, method: str, rows: DataFrame) -> DataFrame:
    """`rows` with `uplift`, and for the T-learner `p_treated` and `p_control` too."""
    scored = model.transform(rows)
    positive = {s: vector_to_array(F.col(f"_probability_{s}"))[1] for s in ("treated", "control", "z")}
    if method == "t_learner":
        scored = scored.withColumn("p_treated", positive["treated"]).withColumn("p_control", positive["control"])
        uplift = F.col("p_treated") - F.col("p_control")
    else:
        uplift = 2 * positive["z"] - 1
    return scored.withColumn(UPLIFT, uplift).select(
        *rows.columns, *[c for c in ("p_treated", "p_control") if method == "t_learner"], UPLIFT
    )
