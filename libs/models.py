"""Model versions in MLflow's registry: a fit logs its Spark pipeline to the open MLflow run and registers it as
the next version of <models.name_prefix><name>; loading takes the version or alias the config pins."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyspark
from pyspark.ml import PipelineModel

from pmkt.libs import tracking
from pmkt.libs.config import Config
from pmkt.libs.errors import MissingInput
from pmkt.libs.lake import failpoint


@dataclass(frozen=True)
class Version:
    """One registered model version, as `pmkt models` lists it."""

    name: str
    version: int
    aliases: tuple[str, ...]
    run_id: str  # the pmkt run that fitted it
    created: int  # MLflow's timestamp, milliseconds since the epoch


def save(config: Config, name: str, model: PipelineModel, meta: dict[str, Any]) -> int:
    """Log `model` to the open MLflow run (see `tracking.model_run`) and register it; `meta` (small, JSON) travels
    in the model's MLmodel file. The new version takes the `models.promote_alias` alias."""
    import mlflow
    import mlflow.spark
    from mlflow import MlflowClient

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("models.save needs an open MLflow run: call it inside tracking.model_run")
    run_id = run.data.tags[tracking.RUN_TAG]
    registered = tracking.registered_name(config, name)
    info = mlflow.spark.log_model(
        model,
        name,
        pip_requirements=[f"pyspark=={pyspark.__version__}"],  # stated: inferring them runs the model again
        metadata=json.loads(json.dumps(meta, default=str)),
    )
    version = mlflow.register_model(info.model_uri, registered, tags={tracking.RUN_TAG: run_id})
    if config.models.promote_alias:
        MlflowClient().set_registered_model_alias(registered, config.models.promote_alias, version.version)
    failpoint(f"mlflow.{registered}")
    return int(version.version)


def load(config: Config, name: str) -> tuple[PipelineModel, dict[str, Any], int]:
    """The version of `name` that `models.version` (--model-version) or else `models.alias` (--model-alias) names,
    with its metadata and version number."""
    import mlflow
    import mlflow.spark
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    tracking.configure(config)
    registered = tracking.registered_name(config, name)
    client = MlflowClient()
    pinned = f"version {config.models.version}" if config.models.version else f"alias '{config.models.alias}'"
    try:
        if config.models.version:
            found = client.get_model_version(registered, str(config.models.version))
        else:
            found = client.get_model_version_by_alias(registered, config.models.alias)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        raise MissingInput(
            f"no {registered} model with {pinned} in MLflow: run its job in fit mode first, "
            "or pick another with --model-version / --model-alias (`pmkt models` lists them)"
        ) from None
    uri = f"models:/{registered}/{found.version}"
    meta = mlflow.models.get_model_info(uri).metadata or {}
    return mlflow.spark.load_model(uri), meta, int(found.version)


def versions(config: Config) -> list[Version]:
    """Every registered version of this project's models (bounded by the number of fits), by name and version."""
    from mlflow import MlflowClient

    tracking.configure(config)
    client = MlflowClient()
    prefix = config.models.name_prefix
    found = [
        v for v in client.search_model_versions(f"name LIKE '{prefix}%'") if v.name.startswith(prefix)
    ]  # bounded: one per fit
    aliases: dict[tuple[str, str], list[str]] = {}
    for model in {v.name for v in found}:
        for alias, number in client.get_registered_model(model).aliases.items():
            aliases.setdefault((model, str(number)), []).append(alias)
    return sorted(
        (
            Version(
                v.name,
                int(v.version),
                tuple(sorted(aliases.get((v.name, str(v.version)), []))),
                v.tags.get(tracking.RUN_TAG, ""),
                int(v.creation_timestamp),
            )
            for v in found
        ),
        key=lambda v: (v.name, v.version),
    )
