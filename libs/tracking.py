"""MLflow tracking: where runs and model versions live, and one MLflow run per run of a model job.

The MLflow run is named after the pmkt run id (`libs.runs`) and tagged with it, so a run in MLflow, its rows in
`gold.model_metrics` and the ledger `system.job_runs` name each other. A run killed before the ledger recorded
it may have registered a model version; the job's next run deletes such versions, as `runs.drop_unfinished`
deletes the run's rows, so nothing loads a model whose run did not finish.
"""

from __future__ import annotations

import base64
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import functions as F

from pmkt.libs import runs, tables
from pmkt.libs.config import Config
from pmkt.libs.errors import UserError
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger

log = get_logger(__name__)
RUN_TAG = "pmkt.run_id"  # on MLflow runs and model versions: the pmkt run id (system.job_runs, gold.model_metrics)
JOB_TAG = "pmkt.job"
PARAM_LIMIT = 6000  # MLflow's longest parameter value
ENV_URI = "MLFLOW_TRACKING_URI"


def on_databricks() -> bool:
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def tracking_uri(config: Config) -> str | None:
    """The configured store; None leaves MLflow's own default ($MLFLOW_TRACKING_URI, or the Databricks workspace)."""
    if config.models.tracking_uri:
        return config.models.tracking_uri
    if os.environ.get(ENV_URI) or on_databricks():
        return None
    return f"sqlite:///{_local_store(config)}/mlflow.db"


def _local_store(config: Config) -> Path:
    """<lake.root>/mlflow on the local disk: the default store sits with the lake it describes."""
    root = config.lake.root
    parsed = urlparse(root)
    if parsed.scheme not in ("", "file"):
        raise UserError(
            f"lake.root '{root}' is not on the local disk, so MLflow's default SQLite store can't sit under it: "
            "set models.tracking_uri (or MLFLOW_TRACKING_URI)"
        )
    path = Path(parsed.path if parsed.scheme else root).resolve() / "mlflow"
    path.mkdir(parents=True, exist_ok=True)
    return path


_configuring = threading.Lock()  # the pipeline's lanes configure MLflow side by side


def configure(config: Config) -> None:
    """Point MLflow at the configured store, registry and experiment (every call: a process may see several lakes)."""
    with _configuring:
        _configure(config)


def _configure(config: Config) -> None:
    import mlflow

    for noisy in ("mlflow", "alembic"):  # schema migrations and registrations, at INFO on every job
        logging.getLogger(noisy).setLevel(logging.WARNING)
    uri = tracking_uri(config)
    if uri:
        before = os.environ.get(ENV_URI)
        mlflow.set_tracking_uri(uri)
        # MLflow also exports the URI to the environment; a later job of this process (a notebook, a test) on
        # another lake, or a child process, would then take it for the user's choice.
        if before is None:
            os.environ.pop(ENV_URI, None)
        else:
            os.environ[ENV_URI] = before
    registry = config.models.registry_uri or uri
    if registry:
        mlflow.set_registry_uri(registry)
    name = config.models.experiment
    if on_databricks() and not name.startswith("/"):
        name = f"/Shared/{name}"
    if mlflow.get_experiment_by_name(name) is None:
        own_store = uri is not None and not config.models.tracking_uri
        artifacts = (_local_store(config) / "artifacts").as_uri() if own_store else None
        mlflow.create_experiment(name, artifact_location=artifacts)
    mlflow.set_experiment(name)


def registered_name(config: Config, model: str) -> str:
    return f"{config.models.name_prefix}{model}"


@contextmanager
def model_run(lake: Lake, config: Config, job: str, settings: Any) -> Iterator[str]:
    """One run of a model job: its pmkt run id (see `runs.job_run`) and an MLflow run of the same name, with the
    job's config section (`settings`, a dataclass) as its parameters."""
    import mlflow

    configure(config)
    with runs.job_run(lake, job, runs.MODEL_LOGS) as run_id:
        _drop_unfinished_versions(lake, job)
        nested = mlflow.active_run() is not None  # a notebook's own run stays the parent
        with mlflow.start_run(run_name=run_id, tags={RUN_TAG: run_id, JOB_TAG: job}, nested=nested):
            mlflow.log_params(_flat(settings))
            yield run_id


def active() -> bool:
    """Whether an MLflow run is open in this process (without importing MLflow for jobs that never use it)."""
    mlflow = sys.modules.get("mlflow")
    return mlflow is not None and mlflow.active_run() is not None


def log_metrics(values: Mapping[str, float]) -> None:
    """Numbers for the open MLflow run, by MLflow name (none open: nothing to do)."""
    if values and active():
        import mlflow

        mlflow.log_metrics(dict(values))


def log_png(data_uri: str, name: str) -> None:
    """A report plot (a base64 PNG data URI) as plots/<name>.png on the open MLflow run."""
    if not active():
        return
    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.png"
        path.write_bytes(base64.b64decode(data_uri.split(",", 1)[1]))
        mlflow.log_artifact(str(path), "plots")


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    """A config section as MLflow parameters: nested sections and maps become dotted keys, the rest strings."""
    if is_dataclass(value) and not isinstance(value, type):
        items: Mapping[str, Any] = {f.name: getattr(value, f.name) for f in fields(value)}
    elif isinstance(value, Mapping) and value:
        items = value
    else:
        return {prefix.rstrip("."): str(value)[:PARAM_LIMIT]}
    out: dict[str, str] = {}
    for key, inner in items.items():
        out.update(_flat(inner, f"{prefix}{key}."))
    return out


def _drop_unfinished_versions(lake: Lake, job: str) -> None:
    """Delete the model versions that earlier runs of `job` registered but the ledger never recorded as finished.

    Such a run is still RUNNING in MLflow (killed) or FAILED (an exception); a run ending in a verdict
    (`UserError`) is in the ledger and keeps its versions. Normally there are none, so this is one search.
    """
    import mlflow
    from mlflow import MlflowClient

    candidates = mlflow.search_runs(
        filter_string=f"tags.`{JOB_TAG}` = '{job}' and attributes.status != 'FINISHED'", output_format="list"
    )  # bounded: the job's runs that did not finish and were not cleaned up yet, normally none
    candidates = [r for r in candidates if r.info.status != "KILLED" and RUN_TAG in r.data.tags]
    if not candidates:
        return
    ids = [r.data.tags[RUN_TAG] for r in candidates]
    ledger = lake.read(tables.JOB_RUNS).where(F.col("run_id").isin(ids))
    finished = {row.run_id for row in ledger.collect()}  # bounded: at most one row per candidate
    client = MlflowClient()
    for run in candidates:
        if run.data.tags[RUN_TAG] in finished:
            continue
        for version in client.search_model_versions(f"run_id = '{run.info.run_id}'"):
            log.warning(
                "%s: deleting %s v%s, registered by unfinished run %s",
                job,
                version.name,
                version.version,
                run.data.tags[RUN_TAG],
            )
            client.delete_model_version(version.name, version.version)
        client.set_terminated(run.info.run_id, status="KILLED")
