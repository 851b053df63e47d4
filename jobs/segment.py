"""`segment`: fit (k chosen by silhouette) or assign with the saved model; gold.segments and gold.segment_profiles."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import Any

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import models, tables, tracking
from pmkt.libs.c360 import segment_profiles, segmentation
from pmkt.libs.config import Config
from pmkt.libs.errors import MissingInput
from pmkt.libs.frames import laid_out
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger, timed
from pmkt.libs.metrics import Metric, append_metrics
from pmkt.libs.report import plots
from pmkt.libs.runner import run_job

log = get_logger(__name__)
MODEL = "segment"


def run(spark: SparkSession, config: Config) -> None:
    cfg = config.segment
    segmentation.check_names(cfg)
    lake = Lake(spark, config.lake)
    day = lake.latest_snapshot(tables.CUSTOMER_FEATURES, cfg.snapshot)
    features = lake.read_snapshot(tables.CUSTOMER_FEATURES, day)
    with (
        tracking.model_run(lake, config, MODEL, config.segment) as run_id,
        timed(log, f"segment ({cfg.mode}) snapshot {day}") as stats,
    ):
        if cfg.mode == "fit":
            (model, meta), version = _fit(spark, lake, config, features, day, run_id), None
        else:
            model, meta, version = models.load(config, MODEL)
            log.info("assigning with saved segment model v%d (k=%d)", version, meta["k"])
        used = meta["features"]
        # One assignment serves the outlier threshold, the profiles and the segments table.
        assigned = (
            segmentation.assign(
                model, segmentation.prepare(features, used), cfg, meta["centroids"], meta.get("feature_col")
            )
            .unionByName(segmentation.no_activity(features, used))
            .cache()
        )
        joined = features.join(assigned.select("customer_id", "segment_id"), on="customer_id", how="inner")
        shown = [f for f in cfg.profile_features if f in features.columns]
        saved_names = {int(k): v for k, v in meta["names_by_id"].items()} if "names_by_id" in meta else None
        profile_df, names = segment_profiles.build(
            spark, joined, shown, saved_names, fixed={segmentation.NO_ACTIVITY_ID: segmentation.NO_ACTIVITY_NAME}
        )
        if version is None:  # fit: the threshold and names are part of the saved model
            meta["outlier_threshold"] = segmentation.outlier_threshold(assigned, cfg.outlier_quantile)
            meta["names_by_id"] = {str(i): n for i, n in names.items() if i != segmentation.NO_ACTIVITY_ID}
            version = models.save(config, MODEL, model, meta)
        name_of = F.create_map(*[F.lit(x) for k, v in names.items() for x in (k, v)])
        segments = assigned.select(
            "snapshot_date",
            "customer_id",
            "segment_id",
            F.element_at(name_of, F.col("segment_id")).alias("segment_name"),
            "distance",
            F.coalesce(F.col("nearest_distance") > F.lit(meta["outlier_threshold"]), F.lit(False)).alias("is_outlier"),
            F.lit(version).alias("model_version"),
        )
        lake.write_snapshot(segments, tables.SEGMENTS, day)
        lake.write_snapshot(
            profile_df.select(F.lit(day).alias("snapshot_date"), "*", F.lit(version).alias("model_version")),
            tables.SEGMENT_PROFILES,
            day,
        )
        stats["rows"] = lake.read_snapshot(tables.SEGMENTS, day).count()
        assigned.unpersist()
    for row in lake.read_snapshot(tables.SEGMENT_PROFILES, day).orderBy("segment_id").collect():  # k rows
        log.info(
            "segment %d %-32s %7s customers (%4.1f%%)",
            row.segment_id,
            row.segment_name,
            f"{row.size:,}",
            100 * row.share,
        )


def _fit(
    spark: SparkSession, lake: Lake, config: Config, features: DataFrame, day: dt.date, run_id: str
) -> tuple[PipelineModel, dict[str, Any]]:
    """Choose k, fit on every customer with behaviour; returns the model and its metadata so far."""
    cfg = config.segment
    used = segmentation.usable_features(features, cfg.features)
    if len(used) < 2 and cfg.fallback_features:
        fallback = segmentation.usable_features(features, cfg.fallback_features)
        log.info(
            "segment.features with data: %s; segmenting on segment.fallback_features with data instead: %s",
            ", ".join(used) or "none",
            ", ".join(fallback) or "none",
        )
        used = fallback
    if len(used) < 2:
        raise MissingInput(
            f"segmentation needs at least two of segment.features (or segment.fallback_features) with data; "
            f"found {used or 'none'}"
        )
    # Laid out by customer: k-means||'s first centres are drawn per partition, so the same customers give the same
    # segments, numbered alike, however the snapshot's files hold them.
    data = laid_out(segmentation.prepare(features, used), ["customer_id"]).cache()
    selection = segmentation.select_k(data, cfg, used)
    scores = selection.scores
    k = segmentation.best_k(scores)
    log.info("k selection: %s -> k=%d", ", ".join(f"k={s.k} silhouette={s.silhouette:.3f}" for s in scores), k)
    model = segmentation.fit(data, cfg, used, k, selection)
    data.unpersist()
    curve = spark.createDataFrame(
        [(s.k, s.silhouette, s.cost, s.k == k, run_id) for s in scores],
        "k int, silhouette double, cost double, chosen boolean, run_id string",
    )
    lake.write_snapshot(curve.select(F.lit(day).alias("snapshot_date"), "*"), tables.SEGMENT_K_SELECTION, day)
    tracking.log_png(plots.k_curve([{"k": s.k, "silhouette": s.silhouette, "chosen": s.k == k} for s in scores]), "k")
    chosen = next(s for s in scores if s.k == k)
    append_metrics(
        spark,
        lake,
        [
            Metric(MODEL, cfg.algorithm, "silhouette", chosen.silhouette, day.isoformat()),
            Metric(MODEL, cfg.algorithm, "k", float(k), day.isoformat()),
        ],
        run_id,
    )
    meta = {
        "k": k,
        "features": used,
        "algorithm": cfg.algorithm,
        "centroids": segmentation.centroids(model),
        "feature_col": segmentation.feature_col(cfg),
        "snapshot": day.isoformat(),
    }
    return model, meta


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("segment", run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
