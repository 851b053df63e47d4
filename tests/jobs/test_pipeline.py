"""The pipeline's lanes: laned steps run side by side, everything else in order, and a failure stops both lanes."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyspark.sql import SparkSession

from pmkt.jobs import pipeline
from pmkt.libs.runner import run_lanes
from tests.conftest import test_config


def _recorder(
    monkeypatch: pytest.MonkeyPatch, waits: dict[str, threading.Event], sets: dict[str, threading.Event]
) -> list[tuple[str, str]]:
    """Stand-in steps that record (step, thread name); a step in `waits` first waits for its event, and a step in
    `sets` sets its event once it ran."""
    seen: list[tuple[str, str]] = []

    def step(name: str) -> SimpleNamespace:
        def run(spark: object, config: object) -> None:
            if name in waits:
                assert waits[name].wait(20), f"{name} waited for a step of the other lane that never ran"
            seen.append((name, threading.current_thread().name))
            if name in sets:
                sets[name].set()

        return SimpleNamespace(run=run)

    monkeypatch.setattr(pipeline, "STEPS", {name: step(name) for name in pipeline.STEPS})
    return seen


def test_laned_steps_overlap_and_the_rest_run_in_order(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # segment (first of lane 0) can only finish once churn (first of lane 1) has run: one step at a time would hang.
    churn_ran = threading.Event()
    seen = _recorder(monkeypatch, {"segment": churn_ran}, {"churn": churn_ran})
    config = test_config(tmp_path)
    config = replace(config, pipeline=replace(config.pipeline, lanes=True))
    steps = ["features", "quality", "segment", "basket", "recommend", "churn", "clv", "campaign", "report"]
    pipeline.run_steps(spark, config, steps)
    order = [name for name, _ in seen]
    assert order[:2] == ["features", "quality"] and order[-2:] == ["campaign", "report"]
    lanes = {name: thread for name, thread in seen}
    assert lanes["segment"] == lanes["basket"] == lanes["recommend"] != lanes["churn"] == lanes["clv"]
    assert [s for s in order if s in ("segment", "basket", "recommend")] == ["segment", "basket", "recommend"]
    assert order.index("churn") < order.index("segment")  # the lanes overlapped
    assert lanes["features"] == lanes["campaign"] == threading.current_thread().name


def test_steps_listed_between_laned_ones_keep_the_listed_order(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _recorder(monkeypatch, {}, {})
    config = test_config(tmp_path)
    config = replace(config, pipeline=replace(config.pipeline, lanes=True))
    pipeline.run_steps(spark, config, ["churn", "campaign", "segment"])
    assert [name for name, _ in seen] == ["churn", "campaign", "segment"]
    assert {thread for _, thread in seen} == {threading.current_thread().name}


def test_a_failing_lane_stops_the_other_at_its_next_step(spark: SparkSession) -> None:
    started, ran = threading.Event(), []

    def fail() -> None:
        started.wait(20)
        raise ValueError("segment failed")

    def first() -> None:
        started.set()
        time.sleep(1.0)  # the other lane fails meanwhile
        ran.append("first")

    with pytest.raises(ValueError, match="segment failed"):
        run_lanes([[fail, lambda: ran.append("after the failure")], [first, lambda: ran.append("second")]])
    assert ran == ["first"]  # the step under way finishes; nothing starts after a failure
