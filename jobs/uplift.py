"""`uplift`: who a campaign changes; T-learner and class-transformation forests compared on a held-out campaign."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import fairness, models, tables, tracking
from pmkt.libs.classify import rows as classifier_rows
from pmkt.libs.classify.model import LABEL, Spec, model_input, observed
from pmkt.libs.config import Config
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.metrics import Metric, append_metrics
from pmkt.libs.runner import run_job
from pmkt.libs.uplift import evaluate, model

log = get_logger(__name__)
MODEL = "uplift"


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.uplift
    lake = Lake(spark, config.lake)
    starts, contacts = classifier_rows.campaign_history(lake, config.features, "the uplift models", False)
    spec = Spec(
        fairness.admitted(cfg.numeric_features, config.fairness, MODEL),
        fairness.admitted(cfg.categorical_features, config.fairness, MODEL),
    )
    with (
        tracking.model_run(lake, config, MODEL, cfg) as run_id,
        timed(log, f"uplift models on {len(starts)} campaigns") as stats,
    ):
        rows = model_input(_inputs(contacts, spec))
        spec = observed(spec, rows)
        train, test = (
            rows.where(F.col("snapshot_date") < F.lit(starts[-1])),
            rows.where(F.col("snapshot_date") == F.lit(starts[-1])),
        )
        split = f"train campaigns before {starts[-1]}, test {starts[-1]}"
        metrics, curves, qini = [], [], {}
        for method in model.METHODS:
            # Cached: the quantile bins read the scores twice (to fit the splits, then to bin).
            scored = model.score(model.fit(train, spec, cfg, method), method, test).cache()
            found = evaluate.bins(scored, cfg.bins, converted=LABEL)
            scored.unpersist()
            points = evaluate.curve(found)
            treated = sum(b.treated for b in found)
            qini[method] = evaluate.qini_coefficient(points, treated)
            metrics += [
                Metric(MODEL, method, "qini", qini[method], split),
                *(
                    Metric(MODEL, method, f"uplift@{k:g}", evaluate.uplift_at(found, k), split)
                    for k in cfg.top_fractions
                ),
            ]
            curves += [(method, i, x, q, x * points[-1][1], run_id) for i, (x, q) in enumerate(points)]
            log.info("%s: Qini coefficient %.4f on the held-out campaign", method, qini[method])
        best = max(model.METHODS, key=lambda m: qini[m])
        lake.write(
            spark.createDataFrame(curves, f"{evaluate.CURVE}, run_id string"),
            tables.UPLIFT_EVALUATION,
            mode="overwrite",
        )
        fitted = model.fit(rows, spec, cfg, best)  # the better method, on every campaign, for planning
        models.save(
            config,
            MODEL,
            fitted,
            {"method": best, "numeric": list(spec.numeric), "categorical": list(spec.categorical)},
        )
        metrics.append(Metric(MODEL, best, "chosen", 1.0, split))
        append_metrics(spark, lake, metrics, run_id)
        stats["rows"] = len(curves)


def _inputs(contacts: DataFrame, spec: Spec) -> DataFrame:
    """Typed features, the group and the label (converted); a contact without a known outcome teaches nothing."""
    return contacts.where(F.col("converted").isNotNull()).select(
        "customer_id",
        "snapshot_date",
        "group",
        *[F.col(c).cast("double").alias(c) for c in spec.numeric],
        *[F.coalesce(F.col(c).cast("string"), F.lit("unknown")).alias(c) for c in spec.categorical],
        F.col("converted").cast("double").alias(LABEL),
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("uplift", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
