"""`response`: P(click) and P(convert) for a campaign contact, from features as of each campaign's start."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import fairness, models, tracking
from pmkt.libs.classify import evaluate
from pmkt.libs.classify import model as cm
from pmkt.libs.classify import rows as classifier_rows
from pmkt.libs.classify.model import LABEL
from pmkt.libs.config import Config
from pmkt.libs.frames import one
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.metrics import Metric, append_metrics
from pmkt.libs.runner import run_job

log = get_logger(__name__)
OUTCOMES = ("clicked", "converted")


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.response
    lake = Lake(spark, config.lake)
    starts, contacts = classifier_rows.campaign_history(lake, config.features, "the response models")
    spec = cm.Spec(
        fairness.admitted(cfg.numeric_features, config.fairness, "response"),
        fairness.admitted(cfg.categorical_features, config.fairness, "response"),
    )
    with (
        tracking.model_run(lake, config, "response", config.response) as run_id,
        timed(log, f"response models on {len(starts)} campaigns"),
    ):
        rows = cm.model_input(contacts)
        spec = cm.observed(spec, rows)
        metrics = []
        for outcome in OUTCOMES:
            labelled = rows.withColumn(LABEL, F.col(outcome).cast("double"))
            train = cm.prepare(labelled.where(F.col("snapshot_date") < F.lit(starts[-1])), spec, balance=False)
            test = cm.prepare(labelled.where(F.col("snapshot_date") == F.lit(starts[-1])), spec, balance=False)
            fitted = cm.fit_logistic(train, spec, reg=cfg.reg_param)
            scored, values = evaluate.holdout(fitted, test)
            scored.unpersist()
            values["train_base_rate"] = one(train.agg(F.avg(LABEL)))[0]  # what a model-free guess would say
            split = f"train campaigns before {starts[-1]}, test {starts[-1]}"
            metrics += [Metric(f"response_{outcome}", "logreg", k, v, split) for k, v in values.items()]
            log.info("P(%s): ROC AUC %.3f (base rate %.3f)", outcome, values["roc_auc"], values["base_rate"])
            models.save(
                config,
                f"response_{outcome}",
                fitted,
                {"numeric": list(spec.numeric), "categorical": list(spec.categorical)},
            )
        append_metrics(spark, lake, metrics, run_id)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("response", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
