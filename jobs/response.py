"""`response`: P(click) and P(convert) for a campaign contact, from features as of each campaign's start."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import fairness, models, tables, tracking
from pmkt.libs.c360 import inputs as c360_inputs
from pmkt.libs.classify import evaluate
from pmkt.libs.classify import model as cm
from pmkt.libs.classify import rows as classifier_rows
from pmkt.libs.classify.model import LABEL
from pmkt.libs.config import Config
from pmkt.libs.errors import UserError
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.metrics import Metric, append_metrics
from pmkt.libs.runner import run_job

log = get_logger(__name__)
OUTCOMES = ("clicked", "converted")


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.response
    lake = Lake(spark, config.lake)
    for needed in ("campaign_contacts", "campaigns"):
        if not lake.exists(tables.SILVER[needed]):
            raise UserError(f"response models need silver.{tables.SILVER[needed].name}")
    inputs = c360_inputs.load(lake)
    campaigns = lake.read(tables.SILVER["campaigns"])
    starts = c360_inputs.campaign_starts(lake)
    if len(starts) < 2:
        raise UserError("response models need at least two campaigns: earlier ones to train on, the last to test on")
    spec = cm.Spec(
        fairness.admitted(cfg.numeric_features, config.fairness, "response"),
        fairness.admitted(cfg.categorical_features, config.fairness, "response"),
    )
    with (
        tracking.model_run(lake, config, "response", config.response) as run_id,
        timed(log, f"response models on {len(starts)} campaigns"),
    ):
        feats = c360_inputs.materialise_snapshots(lake, inputs, starts, config.features)
        contacts = lake.read(tables.SILVER["campaign_contacts"])
        rows = cm.model_partitions(classifier_rows.contact_rows(feats, contacts, campaigns)).cache()
        metrics = []
        for outcome in OUTCOMES:
            labelled = rows.withColumn(LABEL, F.col(outcome).cast("double"))
            train = cm.prepare(labelled.where(F.col("snapshot_date") < F.lit(starts[-1])), spec, balance=False)
            test = cm.prepare(labelled.where(F.col("snapshot_date") == F.lit(starts[-1])), spec, balance=False)
            fitted = cm.fit_logistic(train, spec, reg=cfg.reg_param)
            scored, values = evaluate.holdout(fitted, test)
            scored.unpersist()
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
        rows.unpersist()


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("response", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
