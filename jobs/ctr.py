"""`ctr`: P(click | contact) by a factorization machine and a logistic regression, compared out of time."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pmkt.libs import models, tracking
from pmkt.libs.classify import rows as classifier_rows
from pmkt.libs.classify.model import model_input
from pmkt.libs.config import Config
from pmkt.libs.ctr import model
from pmkt.libs.errors import MissingInput
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.metrics import Metric, append_metrics
from pmkt.libs.runner import run_job

log = get_logger(__name__)
MODEL = "ctr"


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.ctr
    lake = Lake(spark, config.lake)
    starts, contacts = classifier_rows.campaign_history(lake, config.features, "the CTR model")
    with (
        tracking.model_run(lake, config, MODEL, cfg) as run_id,
        timed(log, f"CTR models on {len(starts)} campaigns") as stats,
    ):
        known = contacts.where(F.col("clicked").isNotNull())  # a contact without a known outcome teaches nothing
        labelled = known.withColumn(model.LABEL, F.col("clicked").cast("double"))
        rows = model_input(model.features(labelled, F.hour("sent_ts"), cfg))
        per_start = rows.groupBy("snapshot_date").agg(F.sum(model.LABEL).alias("n")).collect()  # one per campaign
        clicks = {r.snapshot_date: r.n or 0 for r in per_start}
        if not clicks.get(starts[-1]) or not sum(n for day, n in clicks.items() if day < starts[-1]):
            raise MissingInput(
                "the CTR model needs clicks (silver.campaign_contacts.clicked) in the latest campaign and earlier ones"
            )
        train = rows.where(F.col("snapshot_date") < F.lit(starts[-1]))
        test = rows.where(F.col("snapshot_date") == F.lit(starts[-1]))
        split = f"train campaigns before {starts[-1]}, test {starts[-1]}"
        found, metrics = {}, []
        for method in model.METHODS:
            scored = model.score(model.estimator(method, cfg).fit(train), test).cache()  # read by two metrics
            found[method] = model.evaluate(scored)
            scored.unpersist()
            metrics += [Metric(MODEL, method, k, v, split) for k, v in found[method].items()]
            log.info(
                "P(click) by %s: ROC AUC %.3f, log loss %.4f",
                method,
                found[method]["roc_auc"],
                found[method]["log_loss"],
            )
        best = min(model.METHODS, key=lambda m: (found[m]["log_loss"], -found[m]["roc_auc"]))
        fitted = model.estimator(best, cfg).fit(rows)  # the better model, on every campaign, for planning
        models.save(config, MODEL, fitted, {"method": best, "features": list(model.FEATURES)})
        metrics.append(Metric(MODEL, best, "chosen", 1.0, split))
        append_metrics(spark, lake, metrics, run_id)
        stats["rows"] = int(found[best]["contacts"])


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("ctr", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
