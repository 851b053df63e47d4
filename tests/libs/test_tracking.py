"""MLflow round trip: a model run logs params, metrics and plots, registers versions, moves the champion alias,
and a version loaded by alias or number scores exactly as the fitted model; an unfinished run's version goes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import DataFrame, SparkSession

from pmkt.jobs import models as models_job
from pmkt.jobs.cli import main
from pmkt.libs import models, tracking
from pmkt.libs.config import Config, load_config
from pmkt.libs.errors import UserError
from pmkt.libs.lake import Lake
from pmkt.libs.metrics import Metric, append_metrics
from pmkt.libs.report import plots, sections

ROWS = [(0.0, 1.0, 0.2), (1.0, 3.0, 0.1), (0.0, 0.5, 0.9), (1.0, 4.0, 0.4), (0.0, 1.5, 0.3), (1.0, 2.5, 0.8)]


def _data(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(ROWS, "label double, x double, z double").coalesce(1)


def _fit(spark: SparkSession, reg: float) -> PipelineModel:
    stages = [VectorAssembler(inputCols=["x", "z"], outputCol="features"), LogisticRegression(regParam=reg)]
    return Pipeline(stages=stages).fit(_data(spark))


def _probabilities(model: PipelineModel, data: DataFrame) -> list[float]:
    return [float(r.probability[1]) for r in model.transform(data).orderBy("x").collect()]


def _config(tmp_path: Path, *sets: str) -> Config:
    return load_config(None, [f"lake.root={tmp_path / 'lake'}", *sets])


def _fit_run(spark: SparkSession, config: Config, reg: float, auc: float) -> tuple[str, PipelineModel, int]:
    lake = Lake(spark, config.lake)
    model = _fit(spark, reg)
    with tracking.model_run(lake, config, "churn", config.churn) as run_id:
        append_metrics(spark, lake, [Metric("churn", "logreg", "roc_auc", auc, "test")], run_id)
        tracking.log_png(plots.bars(["a", "b"], [1.0, 2.0], "two bars"), "bars")
        version = models.save(config, "churn", model, {"numeric": ["x", "z"], "reg": reg})
    return run_id, model, version


def test_log_register_alias_load_and_score(spark: SparkSession, tmp_path: Path) -> None:
    config = _config(tmp_path)
    first_run, first, v1 = _fit_run(spark, config, 0.0, 0.75)
    second_run, second, v2 = _fit_run(spark, config, 1.0, 0.70)
    assert (v1, v2) == (1, 2)
    data = _data(spark)

    # The MLflow run carries the job's settings, the same metrics as gold.model_metrics, and the plot.
    [run] = mlflow.search_runs(filter_string=f"tags.`pmkt.run_id` = '{second_run}'", output_format="list")
    assert run.info.run_name == second_run and run.info.status == "FINISHED"
    assert run.data.params["horizon_days"] == str(config.churn.horizon_days)
    assert run.data.metrics == {"churn.logreg.roc_auc": 0.70}
    shown = sections.model_metrics(Lake(spark, config.lake), "churn")
    reported = {(r["variant"], r["metric"]): r["value"] for r in shown}
    assert reported == {("logreg", "roc_auc"): 0.70}  # what the report shows: the latest run, as in MLflow
    assert [a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")] == ["plots/bars.png"]

    # The champion alias follows the newest fit; a version or another alias can be pinned.
    loaded, meta, version = models.load(config, "churn")
    assert (version, meta) == (2, {"numeric": ["x", "z"], "reg": 1.0})
    assert _probabilities(loaded, data) == _probabilities(second, data)
    assert _probabilities(second, data) != pytest.approx(_probabilities(first, data), abs=1e-3)
    pinned, meta, version = models.load(_config(tmp_path, "models.version=1"), "churn")
    assert version == 1 and meta["reg"] == 0.0 and _probabilities(pinned, data) == _probabilities(first, data)
    MlflowClient().set_registered_model_alias("pmkt_churn", "baseline", "1")
    assert models.load(_config(tmp_path, "models.alias=baseline"), "churn")[2] == 1
    with pytest.raises(UserError, match="no pmkt_churn model with alias 'staging'"):
        models.load(_config(tmp_path, "models.alias=staging"), "churn")

    listed = [(v.name, v.version, v.aliases, v.run_id) for v in models.versions(config)]
    assert listed == [("pmkt_churn", 1, ("baseline",), first_run), ("pmkt_churn", 2, ("champion",), second_run)]
    lines = models_job.render(models.versions(config)).splitlines()
    assert lines[0].split() == ["model", "version", "aliases", "run", "registered", "(UTC)"]
    assert lines[3].split()[:4] == ["pmkt_churn", "2", "champion", second_run]


def test_a_version_from_an_unfinished_run_is_deleted_by_the_next_run(spark: SparkSession, tmp_path: Path) -> None:
    config = _config(tmp_path)
    lake = Lake(spark, config.lake)
    _fit_run(spark, config, 0.0, 0.75)
    with pytest.raises(RuntimeError), tracking.model_run(lake, config, "churn", config.churn):
        models.save(config, "churn", _fit(spark, 0.5), {"reg": 0.5})
        raise RuntimeError("died after registering")
    assert [v.version for v in models.versions(config)] == [1, 2]
    assert models.load(config, "churn")[2] == 2  # until the job runs again, the unfinished version is the champion
    with tracking.model_run(lake, config, "segment", config.segment):
        pass  # another job's run leaves churn's versions alone
    assert [v.version for v in models.versions(config)] == [1, 2]
    _, _, v3 = _fit_run(spark, config, 1.0, 0.7)
    assert [(v.version, v.aliases) for v in models.versions(config)] == [(1, ()), (3, ("champion",))]
    with pytest.raises(UserError, match="version 2"):
        models.load(replace(config, models=replace(config.models, version=2)), "churn")


def test_model_flags_on_the_command_line(spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = _config(tmp_path)
    run_id, _, _ = _fit_run(spark, config, 0.0, 0.75)
    assert main(["models", "--set", f"lake.root={config.lake.root}"]) == 0
    assert f"pmkt_churn        1  champion  {run_id}" in capsys.readouterr().out
    code = main(["churn", "--mode", "score", "--model-version", "7", "--set", f"lake.root={config.lake.root}"])
    assert code == 2
    assert "no pmkt_churn model with version 7 in MLflow" in capsys.readouterr().err
