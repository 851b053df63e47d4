"""`gold.model_metrics`: every model job appends its evaluation here; the report reads it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs import tables, text, tracking
from pmkt.libs.lake import Lake

SCHEMA = "model string, variant string, metric string, value double, split string, run_id string"


@dataclass(frozen=True)
class Metric:
    """One number: e.g. Metric("recommend", "als", "ndcg@10", 0.31, "test")."""

    model: str
    variant: str
    metric: str
    value: float
    split: str  # a data split ("test", "validation") or a snapshot date

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"metric {self.model}/{self.variant}/{self.metric} is not finite: {self.value}")


def mlflow_key(metric: Metric) -> str:
    """MLflow's name for a `gold.model_metrics` row: <model>.<variant>.<metric>, with '@' (not allowed) as '_at_'."""
    return f"{metric.model}.{metric.variant}.{metric.metric}".replace("@", "_at_")


def append_metrics(spark: SparkSession, lake: Lake, metrics: Sequence[Metric], run_id: str) -> None:
    """Append a run's metrics with one shared run id and timestamp, and log them to the open MLflow run."""
    rows = [(*astuple(m), run_id) for m in metrics]
    df = spark.createDataFrame(rows, SCHEMA).withColumn("created_at", F.current_timestamp())
    lake.write(df, tables.MODEL_METRICS, mode="append")
    tracking.log_metrics({mlflow_key(m): m.value for m in metrics})  # the same numbers on the job's MLflow run


def latest_metrics(lake: Lake, model: str) -> DataFrame:
    """The metrics of the most recent run of `model`."""
    runs = lake.read(tables.MODEL_METRICS).where(F.col("model") == model)
    last = runs.agg(F.max("created_at").alias("created_at"))
    return runs.join(last, on="created_at", how="inner")


def summary_table(lake: Lake) -> list[tuple[str, str, str, float, str]]:
    """(model, variant, metric, value, split) of every model's latest run, for printing (bounded)."""
    from pyspark.sql import Window

    if not lake.exists(tables.MODEL_METRICS):
        return []
    runs = lake.read(tables.MODEL_METRICS)
    latest = F.max("created_at").over(Window.partitionBy("model"))
    rows = runs.withColumn("_latest", latest).where(F.col("created_at") == F.col("_latest"))
    return [
        (r.model, r.variant, r.metric, float(r.value), r.split)
        for r in rows.orderBy("model", "variant", "metric").collect()
    ]


def render(rows: Sequence[tuple[str, str, str, float, str]]) -> str:
    body = [(m, v, k, f"{x:,.4f}" if abs(x) < 1000 else f"{x:,.0f}", s) for m, v, k, x, s in rows]
    return text.columns(("model", "variant", "metric", "value", "split"), body, right={3})


def render_side_by_side(
    rows: Sequence[tuple[str, str, str, float, str]], model: str, split: str = "test", order: Sequence[str] = ()
) -> str:
    """One line per variant of `model`, one column per metric: e.g. every recommender against popularity.

    Variants and metrics named in `order` come first, in that order.
    """

    def rank(name: str) -> tuple[int, str]:
        return (next((i for i, o in enumerate(order) if name == o or name.startswith(o + "@")), len(order)), name)

    picked = [(v, k, x) for m, v, k, x, s in rows if m == model and s == split]
    variants = sorted({v for v, k, _ in picked if v != "all"}, key=rank)
    metrics = sorted({k for v, k, _ in picked if v != "all"}, key=rank)
    if not variants:
        return ""
    value = {(v, k): x for v, k, x in picked}
    body = [[v, *(f"{value[(v, k)]:.4f}" if (v, k) in value else "" for k in metrics)] for v in variants]
    return text.columns(["variant", *metrics], body, right=set(range(1, len(metrics) + 1)))
