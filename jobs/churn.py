"""`churn`: point-in-time churn model (or a supplied label), evaluated out of time, with explained scores."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import fairness, models, tables, tracking
from pmkt.libs.c360 import inputs as c360_inputs
from pmkt.libs.churn import labels
from pmkt.libs.classify import evaluate
from pmkt.libs.classify import model as cm
from pmkt.libs.classify.model import LABEL
from pmkt.libs.config import Config
from pmkt.libs.errors import MissingInput, UserError
from pmkt.libs.frames import one, union_all
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.metrics import Metric, append_metrics
from pmkt.libs.report import plots, sections
from pmkt.libs.runner import run_job

log = get_logger(__name__)
MODEL = "churn"


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.churn
    lake = Lake(spark, config.lake)
    if cfg.mode == "score":
        model, meta, version = models.load(config, MODEL)
        _score(spark, lake, config, model, cm.Spec(tuple(meta["numeric"]), tuple(meta["categorical"])), version)
        return
    with tracking.model_run(lake, config, MODEL, config.churn) as run_id, timed(log, "churn model") as stats:
        train, test, split = _supplied(lake, config) if cfg.label_column else _rolling(lake, config)
        spec = _spec(config, train)
        train = cm.model_input(cm.prepare(train, spec))
        test = cm.model_input(cm.prepare(test, spec))
        spec = cm.observed(spec, train)  # read from the checkpointed rows, not the snapshots again
        log.info(
            "training on %s labelled rows (churn rate %.1f%%), testing on %s (%s)",
            f"{train.count():,}",
            100 * one(train.agg(F.avg(LABEL)))[0],
            f"{test.count():,}",
            split,
        )
        best = cm.tune(train, spec, cfg.reg_params, cfg.elastic_net_params, cfg.folds, cfg.seed)
        variants = {"logreg": best}
        if cfg.compare_gbt:
            variants["gbt"] = cm.gbt(train, spec, cfg.seed, cfg.gbt_trees, cfg.gbt_max_depth)
        metrics, curve_parts = [], []
        for variant, fitted in variants.items():
            scored, values = evaluate.holdout(fitted, test)
            curve = evaluate.curves(spark, scored, cm.PROBABILITY, variant)
            scored.unpersist()
            values["top_decile_lift"] = evaluate.top_decile_lift(curve)
            metrics += [Metric(MODEL, variant, k, v, split) for k, v in values.items()]
            curve_parts.append(curve)
            if variant == "logreg":
                curve_parts.append(evaluate.roc_points(spark, fitted, test, variant))
            log.info(
                "%s: ROC AUC %.3f, PR AUC %.3f, Brier %.3f, top-decile lift %.2f",
                variant,
                values["roc_auc"],
                values["pr_auc"],
                values["brier"],
                values["top_decile_lift"],
            )
        lake.write(
            union_all(curve_parts).withColumn("run_id", F.lit(run_id)),
            tables.CHURN_EVALUATION,
            mode="overwrite",
        )
        for name, uri in plots.classifier_curves(sections.churn_curves(lake) or []).items():
            tracking.log_png(uri, f"churn_{name}")
        coefs = spark.createDataFrame(cm.coefficients(best, spec), "feature string, coefficient double")
        lake.write(
            coefs.withColumn("odds_ratio_per_sd", F.exp("coefficient")).withColumn("run_id", F.lit(run_id)),
            tables.CHURN_COEFFICIENTS,
            mode="overwrite",
        )
        append_metrics(spark, lake, metrics, run_id)
        version = models.save(
            config, MODEL, best, {"numeric": list(spec.numeric), "categorical": list(spec.categorical), "split": split}
        )
        stats["rows"] = _score(spark, lake, config, best, spec, version)


def _spec(config: Config, df: DataFrame) -> cm.Spec:
    cfg = config.churn
    admitted = fairness.admitted(cfg.numeric_features + cfg.categorical_features, config.fairness, MODEL)
    numeric = tuple(c for c in cfg.numeric_features if c in admitted and c in df.columns)
    categorical = tuple(c for c in cfg.categorical_features if c in admitted and c in df.columns)
    missing = sorted(set(admitted) - set(df.columns))  # a protected attribute left out is not missing
    if missing:
        log.info("churn features not in the data, skipped: %s", ", ".join(missing))
    if not numeric and not categorical:
        raise UserError("none of churn.numeric_features / churn.categorical_features exist in the data")
    return cm.Spec(numeric, categorical)


def _rolling(lake: Lake, config: Config) -> tuple[DataFrame, DataFrame, str]:
    """Training rows from several earlier cutoffs, test rows from a later one; features strictly before
    each cutoff (stored as gold.customer_features snapshots), labels strictly after."""
    cfg = config.churn
    inputs = c360_inputs.load(lake)
    if inputs.lines is None:
        raise MissingInput("churn labels need silver.order_lines (or set churn.label_column to a supplied label)")
    last_day = c360_inputs.default_cutoff(inputs)
    train_days, test_day = labels.rolling_cutoffs(last_day, cfg)
    for cutoff in [*train_days, test_day]:
        labels.check_observable(last_day, cutoff, cfg.horizon_days)
    feats = c360_inputs.materialise_snapshots(lake, inputs, [*train_days, test_day], config.features)
    frames = {
        cutoff: feats.where(F.col("snapshot_date") == F.lit(cutoff)).join(
            labels.churn_labels(inputs.lines, cutoff, cfg.horizon_days, cfg.activity_days),
            on=["customer_id", "snapshot_date"],
            how="inner",
        )
        for cutoff in [*train_days, test_day]
    }
    train = union_all([frames[d] for d in train_days])
    split = f"train {train_days[0]}..{train_days[-1]}, test {test_day}"
    return train, frames[test_day], split


def _supplied(lake: Lake, config: Config) -> tuple[DataFrame, DataFrame, str]:
    """A supplied label column (e.g. a telco churn flag): stratified random split of one table."""
    cfg = config.churn
    customers = lake.read(tables.SILVER["customers"])
    if cfg.label_column not in customers.columns:
        raise UserError(f"churn.label_column '{cfg.label_column}' is not a column of silver.customers")
    base = (
        _customers_with_features(lake)
        .where(F.col(cfg.label_column).isNotNull())
        .withColumn(LABEL, F.col(cfg.label_column).cast("double"))
    )
    fraction = 1 - cfg.test_fraction
    train = base.sampleBy(LABEL, {0.0: fraction, 1.0: fraction}, seed=cfg.seed)
    test = base.join(train.select("customer_id"), on="customer_id", how="left_anti")
    return train, test, f"stratified {int(100 * fraction)}/{int(100 * cfg.test_fraction)} split"


def _customers_with_features(lake: Lake) -> DataFrame:
    """silver.customers (labels and extra columns) dated today, with the latest feature snapshot if any."""
    rows = lake.read(tables.SILVER["customers"]).withColumn("snapshot_date", F.current_date())
    if not lake.exists(tables.CUSTOMER_FEATURES):
        return rows
    day = lake.latest_snapshot(tables.CUSTOMER_FEATURES)
    feats = lake.read_snapshot(tables.CUSTOMER_FEATURES, day).drop("snapshot_date")
    return rows.join(
        feats.drop(*[c for c in feats.columns if c in rows.columns and c != "customer_id"]),
        on="customer_id",
        how="left",
    )


def _score(spark: SparkSession, lake: Lake, config: Config, model: PipelineModel, spec: cm.Spec, version: int) -> int:
    """gold.churn_scores for the latest snapshot (or today's customers with a supplied label)."""
    cfg = config.churn
    if cfg.label_column:
        rows, day = _customers_with_features(lake), dt.date.today()
    else:
        day = lake.latest_snapshot(tables.CUSTOMER_FEATURES)
        rows = lake.read_snapshot(tables.CUSTOMER_FEATURES, day)
    scored = model.transform(cm.prepare(rows.drop(LABEL) if LABEL in rows.columns else rows, spec))
    low, high = cfg.risk_bands
    p = cm.probability(scored)
    out = scored.select(
        "customer_id",
        "snapshot_date",
        p.alias("probability"),
        F.when(p >= high, "high").when(p >= low, "medium").otherwise("low").alias("risk_band"),
        cm.reason_codes(model, spec, cfg.reason_names).alias("reasons"),
        F.lit(version).alias("model_version"),
    )
    lake.write_snapshot(out, tables.CHURN_SCORES, day)
    bands = lake.read_snapshot(tables.CHURN_SCORES, day).groupBy("risk_band").count().collect()  # three rows
    log.info(
        "churn scores for %s: %s",
        day,
        ", ".join(f"{r.risk_band} {r['count']:,}" for r in sorted(bands, key=lambda r: r.risk_band)),
    )
    return sum(r["count"] for r in bands)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("churn", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
