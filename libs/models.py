"""Versioned model storage: fitted pipelines under <models root>/<name>/v<N>, indexed in gold.model_registry."""

from __future__ import annotations

import json
from typing import Any

from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from libs import tables
from libs.config import Config
from libs.errors import UserError
from libs.frames import one
from libs.lake import Lake

REGISTRY_SCHEMA = "model string, version int, path string, run_id string, meta string"


def models_root(config: Config) -> str:
    return (config.models.root or f"{config.lake.root.rstrip('/')}/models").rstrip("/")


def save(
    spark: SparkSession, lake: Lake, config: Config, name: str, model: PipelineModel, run_id: str, meta: dict[str, Any]
) -> int:
    """Save `model` as the next version of `name`; `meta` (small, JSON) is stored in the registry row."""
    version = _latest_version(lake, name) + 1
    path = f"{models_root(config)}/{name}/v{version:04d}"
    model.write().overwrite().save(path)
    row = spark.createDataFrame([(name, version, path, run_id, json.dumps(meta, default=str))], REGISTRY_SCHEMA)
    lake.write(row.withColumn("created_at", F.current_timestamp()), tables.MODEL_REGISTRY, mode="append")
    return version


def load(lake: Lake, name: str, version: int | None = None) -> tuple[PipelineModel, dict[str, Any], int]:
    """The given version of `name` (default: the latest) with its metadata."""
    if not lake.exists(tables.MODEL_REGISTRY):
        raise UserError(f"no saved '{name}' model yet: run it in fit mode first")
    rows = lake.read(tables.MODEL_REGISTRY).where(F.col("model") == name)
    if version is not None:
        rows = rows.where(F.col("version") == version)
    row = rows.orderBy(F.desc("version")).first()
    if row is None:
        raise UserError(
            f"no saved '{name}' model" + (f" version {version}" if version else "") + ": run it in fit mode first"
        )
    return PipelineModel.load(row.path), json.loads(row.meta), int(row.version)


def _latest_version(lake: Lake, name: str) -> int:
    if not lake.exists(tables.MODEL_REGISTRY):
        return 0
    latest = one(lake.read(tables.MODEL_REGISTRY).where(F.col("model") == name).agg(F.max("version")))[0]
    return int(latest or 0)
