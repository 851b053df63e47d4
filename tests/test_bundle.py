"""databricks.yml runs the pipeline's steps, in its order, on the pmkt wheel (no workspace needed)."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path
from typing import Any

import yaml

from pmkt.jobs.pipeline import STEPS
from pmkt.libs.config import PipelineConfig

BUNDLE = Path(__file__).resolve().parent.parent / "databricks.yml"


def _bundle() -> dict[str, Any]:
    return yaml.safe_load(BUNDLE.read_text())


def test_one_task_per_pipeline_step_each_after_the_one_before() -> None:
    tasks = _bundle()["resources"]["jobs"]["pmkt_pipeline"]["tasks"]
    default_steps = [s for s in STEPS if PipelineConfig().runs(s)]
    assert [t["task_key"] for t in tasks] == default_steps
    assert "generate" not in default_steps and default_steps[-1] == "report"
    for before, task in zip([None, *default_steps], tasks, strict=False):
        assert task.get("depends_on", []) == ([] if before is None else [{"task_key": before}])


def test_every_task_runs_its_step_through_the_wheels_entry_point() -> None:
    bundle = _bundle()
    scripts = {e.name: e.value for e in importlib.metadata.distribution("pmkt").entry_points}
    for task in bundle["resources"]["jobs"]["pmkt_pipeline"]["tasks"]:
        wheel = task["python_wheel_task"]
        assert (wheel["package_name"], wheel["entry_point"]) == ("pmkt", "pmkt")
        assert scripts[wheel["entry_point"]] == "pmkt.jobs.cli:main"
        params = wheel["parameters"]
        assert params[0] == task["task_key"] and params[params.index("--conf-file") + 1].endswith("${var.conf_file}")
        assert "spark.delta_jars=provided" in params  # the runtime has Delta: add no jars
        assert task["libraries"] == [{"whl": "./dist/*.whl"}]
    used = set(re.findall(r"\$\{var\.(\w+)\}", BUNDLE.read_text()))
    assert used <= set(bundle["variables"]), used - set(bundle["variables"])
    assert set(bundle["targets"]) == {"dev", "prod"} and bundle["targets"]["dev"]["default"] is True
