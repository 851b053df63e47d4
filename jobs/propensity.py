"""`propensity`: P(buying in each top category within D days), one model with category as a feature."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import fairness, models, tables, tracking
from pmkt.libs.c360 import inputs as c360_inputs
from pmkt.libs.churn import labels
from pmkt.libs.classify import evaluate
from pmkt.libs.classify import model as cm
from pmkt.libs.classify import rows as classifier_rows
from pmkt.libs.classify.model import LABEL
from pmkt.libs.config import Config
from pmkt.libs.errors import MissingInput
from pmkt.libs.frames import union_all
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.metrics import Metric, append_metrics
from pmkt.libs.runner import run_job

log = get_logger(__name__)
MODEL = "propensity"


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.propensity
    lake = Lake(spark, config.lake)
    if cfg.mode == "score":
        fitted, meta, version = models.load(config, MODEL)
        _score(
            lake, fitted, cm.Spec(tuple(meta["numeric"]), ("category",)), meta["categories"], version, cfg.reason_names
        )
        return
    inputs = c360_inputs.load(lake)
    if inputs.lines is None or inputs.products is None:
        raise MissingInput("propensity needs silver.order_lines and silver.products")
    top = inputs.lines.join(F.broadcast(inputs.products.select("product_id", "category")), on="product_id", how="inner")
    by_revenue = top.groupBy("category").agg(F.sum("amount").alias("r")).orderBy(F.desc("r"), "category")
    categories = [r.category for r in by_revenue.limit(cfg.top_categories).collect()]  # top N categories
    last_day = c360_inputs.default_cutoff(inputs)
    train_days, test_day = labels.rolling_cutoffs(last_day, cfg)
    spec = cm.Spec(fairness.admitted(cfg.numeric_features, config.fairness, MODEL), ("category",))
    title = f"propensity for {', '.join(categories)} within {cfg.horizon_days} days"
    with tracking.model_run(lake, config, MODEL, config.propensity) as run_id, timed(log, title) as stats:
        frames = {}
        snapshots = c360_inputs.materialise_snapshots(lake, inputs, [*train_days, test_day], config.features)
        for cutoff in [*train_days, test_day]:
            feats = classifier_rows.category_rows(snapshots.where(F.col("snapshot_date") == F.lit(cutoff)), categories)
            frames[cutoff] = feats.join(
                classifier_rows.category_labels(inputs.lines, inputs.products, cutoff, cfg.horizon_days),
                on=["customer_id", "category"],
                how="left",
            ).withColumn(LABEL, F.coalesce(F.col("_bought"), F.lit(0.0)))
        train = union_all([frames[d] for d in train_days])
        train, test = (
            cm.model_input(cm.prepare(train, spec, balance=False)),
            cm.model_input(cm.prepare(frames[test_day], spec, balance=False)),
        )
        spec = cm.observed(spec, train)
        fitted = cm.fit_logistic(train, spec, reg=cfg.reg_param)
        scored, values = evaluate.holdout(fitted, test)
        scored.unpersist()
        split = f"train {train_days[0]}..{train_days[-1]}, test {test_day}"
        append_metrics(spark, lake, [Metric(MODEL, "logreg", k, v, split) for k, v in values.items()], run_id)
        log.info(
            "propensity: ROC AUC %.3f, PR AUC %.3f (base rate %.3f)",
            values["roc_auc"],
            values["pr_auc"],
            values["base_rate"],
        )
        version = models.save(config, MODEL, fitted, {"categories": categories, "numeric": list(spec.numeric)})
        stats["rows"] = _score(lake, fitted, spec, categories, version, cfg.reason_names)


def _score(
    lake: Lake, fitted: PipelineModel, spec: cm.Spec, categories: Sequence[str], version: int, names: Mapping[str, str]
) -> int:
    day = lake.latest_snapshot(tables.CUSTOMER_FEATURES)
    rows = classifier_rows.category_rows(lake.read_snapshot(tables.CUSTOMER_FEATURES, day), categories)
    scored = fitted.transform(cm.prepare(rows, spec))
    out = scored.select(
        "customer_id",
        "snapshot_date",
        "category",
        cm.probability(scored).alias("probability"),
        cm.reason_codes(fitted, spec, names).alias("reasons"),
        F.lit(version).alias("model_version"),
    )
    lake.write_snapshot(out, tables.PROPENSITY_SCORES, day)
    return lake.read_snapshot(tables.PROPENSITY_SCORES, day).count()


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("propensity", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
