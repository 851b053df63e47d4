"""The run ledger: rows a run appended count once it finished; the job's next run removes an unfinished one's."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pmkt.libs import runs, tables
from pmkt.libs.config import LakeConfig
from pmkt.libs.errors import UserError
from pmkt.libs.lake import Lake
from pmkt.libs.metrics import Metric, append_metrics

LOGS = (tables.MODEL_METRICS,)


def _metric(value: float) -> list[Metric]:
    return [Metric("churn", "logreg", "roc_auc", value, "test")]


def _runs(lake: Lake) -> dict[str, float]:
    return {r.run_id: r.value for r in lake.read(tables.MODEL_METRICS).collect()}


def test_a_run_that_died_is_removed_by_the_jobs_next_run(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(spark, LakeConfig(root=str(tmp_path)))
    append_metrics(spark, lake, _metric(0.5), "churn-legacy")  # logged before the ledger existed: kept
    with pytest.raises(RuntimeError), runs.job_run(lake, "churn", LOGS) as died:
        append_metrics(spark, lake, _metric(0.6), died)
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError), runs.job_run(lake, "segment", LOGS) as other:
        append_metrics(spark, lake, _metric(0.7), other)
        raise RuntimeError("killed")
    assert set(_runs(lake)) == {"churn-legacy", died, other}
    with runs.job_run(lake, "churn", LOGS) as finished:
        append_metrics(spark, lake, _metric(0.8), finished)
    # The dead churn run's row is gone; another job's unfinished run is that job's to clear.
    assert _runs(lake) == {"churn-legacy": 0.5, other: 0.7, finished: 0.8}
    with runs.job_run(lake, "churn", LOGS) as again:
        append_metrics(spark, lake, _metric(0.9), again)
    assert _runs(lake) == {"churn-legacy": 0.5, other: 0.7, finished: 0.8, again: 0.9}
    ledger = {r.run_id: r.job for r in lake.read(tables.JOB_RUNS).collect()}
    assert ledger == {"churn-legacy": "churn", finished: "churn", again: "churn"}


def test_a_run_that_ends_in_a_verdict_keeps_its_rows(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(spark, LakeConfig(root=str(tmp_path)))
    with pytest.raises(UserError), runs.job_run(lake, "quality", LOGS) as gated:
        append_metrics(spark, lake, _metric(0.1), gated)
        raise UserError("quality gate: silver.order_lines not_null(price) failing share 80%")
    with runs.job_run(lake, "quality", LOGS):
        pass
    assert _runs(lake) == {gated: 0.1}
