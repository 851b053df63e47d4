"""Steps side by side: two at a time with their prerequisites first, everything else in order, a failure stops all."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyspark.sql import SparkSession

from pmkt.jobs import basket, features, pipeline
from pmkt.libs.config import Config
from pmkt.libs.errors import MissingInput
from pmkt.libs.runner import run_side_by_side
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


def _lanes_on(tmp_path: Path) -> Config:
    config = test_config(tmp_path)
    return replace(config, pipeline=replace(config.pipeline, lanes=True))


def test_side_by_side_steps_overlap_after_their_prerequisites_and_the_rest_run_in_order(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # segment can only finish once churn has run: one step at a time would hang.
    churn_ran = threading.Event()
    seen = _recorder(monkeypatch, {"segment": churn_ran}, {"churn": churn_ran})
    steps = ["features", "quality", "segment", "basket", "recommend", "churn", "clv", "campaign", "report"]
    pipeline.run_steps(spark, _lanes_on(tmp_path), steps)
    order = [name for name, _ in seen]
    assert sorted(order) == sorted(steps)  # each step once
    assert order[:2] == ["features", "quality"] and order[-2:] == ["campaign", "report"]
    assert order.index("recommend") > max(order.index("segment"), order.index("basket"))
    assert order.index("churn") < order.index("segment")  # they overlapped
    threads = {thread for name, thread in seen if name in pipeline.SIDE_BY_SIDE}
    assert len(threads) == 2 and threading.current_thread().name not in threads
    assert {thread for name, thread in seen if name not in pipeline.SIDE_BY_SIDE} == {threading.current_thread().name}


def test_a_worker_done_with_its_chain_takes_what_is_left(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # churn finishes only once clv has run. In fixed lanes (clv after churn in one lane) that would fail after the
    # recorder's 20 s wait; here the worker not in churn takes clv once it is done with the others.
    clv_ran = threading.Event()
    seen = _recorder(monkeypatch, {"churn": clv_ran}, {"clv": clv_ran})
    pipeline.run_steps(spark, _lanes_on(tmp_path), ["segment", "basket", "recommend", "churn", "clv"])
    thread = dict(seen)
    assert thread["churn"] != thread["clv"]
    assert [name for name, _ in seen][-1] == "churn"


def test_each_steps_spark_jobs_carry_its_job_group_side_by_side_or_in_turn(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = spark.sparkContext
    groups: dict[str, str | None] = {}

    def step(name: str) -> SimpleNamespace:
        def run(spark: object, config: object) -> None:
            groups[name] = sc.getLocalProperty("spark.jobGroup.id")
            sc.parallelize([1], 1).count()  # one Spark job

        return SimpleNamespace(run=run)

    steps = ["features", "segment", "basket", "recommend", "churn", "clv", "campaign"]
    monkeypatch.setattr(pipeline, "STEPS", {name: step(name) for name in pipeline.STEPS})
    tracker = sc.statusTracker()
    before = {name: set(tracker.getJobIdsForGroup(name)) for name in steps}  # the suite's own runs used these names
    outer = sc.getLocalProperty("spark.jobGroup.id")
    pipeline.run_steps(spark, _lanes_on(tmp_path), steps)
    assert groups == {name: name for name in steps}
    new = {name: set(tracker.getJobIdsForGroup(name)) - before[name] for name in steps}
    assert all(len(ids) == 1 for ids in new.values()), new  # each step's job in its group, and in no other
    assert sc.getLocalProperty("spark.jobGroup.id") == outer  # the caller's group is back


def test_steps_listed_between_laned_ones_keep_the_listed_order(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _recorder(monkeypatch, {}, {})
    pipeline.run_steps(spark, _lanes_on(tmp_path), ["churn", "campaign", "segment"])
    assert [name for name, _ in seen] == ["churn", "campaign", "segment"]
    assert {thread for _, thread in seen} == {threading.current_thread().name}


def test_a_failure_stops_the_other_worker_before_its_next_step(spark: SparkSession) -> None:
    started, ran = threading.Event(), []

    def fail() -> None:
        started.wait(20)
        raise ValueError("segment failed")

    def first() -> None:
        started.set()
        time.sleep(1.0)  # the other worker fails meanwhile
        ran.append("first")

    calls = {"fail": fail, "first": first, "later": lambda: ran.append("later"), "last": lambda: ran.append("last")}
    with pytest.raises(ValueError, match="segment failed"):
        run_side_by_side(calls, {})
    assert ran == ["first"]  # the step under way finishes; nothing starts after a failure


def test_a_step_waits_for_its_prerequisites_even_with_a_worker_free(spark: SparkSession) -> None:
    ran: list[str] = []

    def slow() -> None:
        time.sleep(0.5)
        ran.append("slow")

    run_side_by_side({"next": lambda: ran.append("next"), "slow": slow}, {"next": ("slow", "not run here")})
    assert ran == ["slow", "next"]


def test_the_default_steps_skip_what_the_data_cannot_feed_and_named_steps_fail(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The real jobs raise MissingInput on a lake without the tables they read (here: an empty one).
    empty = test_config(tmp_path / "empty")
    with pytest.raises(MissingInput, match="^basket needs silver.order_lines: ingest a transactions source first$"):
        basket.run(spark, empty)
    with pytest.raises(MissingInput, match="^no silver.order_lines or silver.events yet"):
        features.run(spark, empty)

    seen: list[str] = []

    def step(name: str) -> SimpleNamespace:
        def run(spark: object, config: object) -> None:
            if name in ("basket", "churn"):  # a clickstream export: no order lines
                raise MissingInput(f"{name} needs silver.order_lines")
            seen.append(name)

        return SimpleNamespace(run=run)

    monkeypatch.setattr(pipeline, "STEPS", {name: step(name) for name in pipeline.STEPS})
    laned = _lanes_on(tmp_path)
    config = replace(laned, pipeline=replace(laned.pipeline, steps=()))  # the default: every step the data can feed
    steps = ["features", "segment", "basket", "recommend", "churn", "clv", "report"]
    with caplog.at_level(logging.WARNING, logger="pmkt"):
        skipped = pipeline.run_steps(spark, config, steps)
    assert sorted(skipped) == ["basket", "churn"]
    assert sorted(seen) == sorted(set(steps) - {"basket", "churn"})  # recommend ran though basket was skipped
    assert "basket skipped: basket needs silver.order_lines" in caplog.text

    named = replace(config, pipeline=replace(config.pipeline, steps=tuple(steps)))
    with pytest.raises(MissingInput, match="needs silver.order_lines"):
        pipeline.run_steps(spark, named, steps)
