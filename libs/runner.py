"""How a job runs from the command line: its arguments, config, session and the lake's writer lock, and one-line
errors (exit code 2, or 1 when ingest does not reconcile) instead of tracebacks; and steps side by side in one
session. The jobs' registry is `jobs.cli`."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from pmkt.libs.errors import ReconciliationError, UserError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pmkt.libs.config import Config

Job = Callable[["SparkSession", "Config"], object]  # a job's run(spark, config); what it returns is not used
log = logging.getLogger("pmkt.cli")
# What SparkContext.setJobGroup sets on the calling thread; restored when a job group ends.
JOB_GROUP_PROPERTIES = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")


def parser(epilog: str = "") -> argparse.ArgumentParser:
    """The arguments every job takes; `epilog` lists the jobs in `pmkt --help`."""
    parser = argparse.ArgumentParser(
        prog="pmkt",
        description="Precision-marketing platform on Spark and Delta Lake.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job", help="the job to run (see below)")
    parser.add_argument("--conf-file", help="YAML config (default: $PMKT_CONF or conf/local.yaml)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set generate.customers=1000",
    )
    parser.add_argument("--mode", help="shorthand for --set <job>.mode=MODE (e.g. segment --mode assign)")
    parser.add_argument(
        "--reingest",
        action="append",
        default=[],
        metavar="PATH|all",
        help="ingest: forget recorded files at or under PATH (or all) so they are read again",
    )
    parser.add_argument(
        "--model-version", type=int, metavar="N", help="load version N of the job's model(s) from MLflow"
    )
    parser.add_argument(
        "--model-alias", metavar="ALIAS", help="load the model version with this MLflow alias (default: champion)"
    )
    parser.add_argument("--once", action="store_true", help="stream: take what has landed, then stop")
    parser.add_argument(
        "--trigger-seconds",
        type=float,
        metavar="S",
        help="stream: a micro-batch every S seconds (stream.trigger_seconds)",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks, including the JVM's")
    return parser


def run_job(job: str, run: Job, argv: Sequence[str], lock: bool = True) -> int:
    """Run one job; user errors print one line and return 2, unless --debug asks for the traceback.

    Without `lock` the job runs without holding the lake's writer lock: it writes nothing, or takes the lock
    itself (the stream, per micro-batch).
    """
    from pmkt.libs import log as logs

    args = parser().parse_args([job, *argv])
    logs.configure(args.debug)
    try:
        from pmkt.libs.config import load_config
        from pmkt.libs.session import get_spark

        overrides = [
            *args.overrides,
            *([f"{job}.mode={args.mode}"] if args.mode else []),
            *([f"ingest.reingest={json.dumps(args.reingest)}"] if args.reingest else []),
            *([f"models.version={args.model_version}"] if args.model_version is not None else []),
            *([f"models.alias={args.model_alias}"] if args.model_alias else []),
            *(["stream.once=true"] if args.once else []),
            *([f"stream.trigger_seconds={args.trigger_seconds}"] if args.trigger_seconds is not None else []),
        ]
        config = load_config(args.conf_file, overrides)
        spark = get_spark(config)
        with job_group(spark, job):
            if not lock:
                run(spark, config)
                return 0
            from pmkt.libs.lake import Lake
            from pmkt.libs.lock import lake_lock

            lake = Lake(spark, config.lake)
            lake.check_writable()
            with lake_lock(lake, job, config.lake.lock_wait_seconds):
                run(spark, config)
        return 0
    except UserError as exc:
        if args.debug:
            raise
        print(f"pmkt {job}: error: {exc}", file=sys.stderr)
        return 2
    except ReconciliationError as exc:
        if args.debug:
            raise
        print(f"pmkt {job}: ingest does not reconcile: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence against JVM traces
        if args.debug:
            raise
        user = _spark_user_error(exc)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        print(f"pmkt {job}: error: {first}" + ("" if user else " (rerun with --debug for details)"), file=sys.stderr)
        return 2 if user else 1


@contextlib.contextmanager
def job_group(spark: SparkSession, name: str) -> Iterator[None]:
    """The Spark jobs this thread starts meanwhile belong to job group `name`, described as `pmkt <name>`.

    The Spark UI groups a run's jobs by step and the event log records each job's step (`spark.jobGroup.id`): with
    steps side by side it is the only way to tell whose a job is. The thread's previous group comes back
    afterwards, so a step inside `pmkt pipeline` nests in the pipeline's.
    """
    sc = spark.sparkContext
    before = {key: sc.getLocalProperty(key) for key in JOB_GROUP_PROPERTIES}
    sc.setJobGroup(name, f"pmkt {name}")
    try:
        yield
    finally:
        for key, value in before.items():
            sc.setLocalProperty(key, value)  # type: ignore[arg-type]  # None removes the property


def _spark_user_error(exc: Exception) -> bool:
    """Spark's analysis errors (missing column, path, table) come from the user's input or config."""
    from pyspark.errors import AnalysisException

    return isinstance(exc, AnalysisException)


def run_side_by_side(
    calls: Mapping[str, Callable[[], object]], after: Mapping[str, Collection[str]], workers: int = 2
) -> None:
    """Run every call once, `workers` at a time in threads of this process (and its Spark session).

    A free worker takes the first call, in the mapping's order, whose prerequisites in `after` (names of other
    calls; names not in `calls` are ignored) have finished, so no worker idles while a ready call waits. A failure
    stops every worker before its next call; once all stopped, the first failure is raised. Threads are PySpark's
    `InheritableThread`, so each call's jobs carry the caller's local properties.
    """
    from pyspark import InheritableThread

    pending = list(calls)
    waits_for = {name: {p for p in after.get(name, ()) if p in calls} for name in calls}
    done: set[str] = set()
    failures: list[BaseException] = []
    changed = threading.Condition()

    def take() -> str | None:
        """The next ready call (None when nothing is left or a call failed); waits while all are blocked."""
        with changed:
            while pending and not failures:
                ready = next((name for name in pending if waits_for[name] <= done), None)
                if ready is not None:
                    pending.remove(ready)
                    return ready
                changed.wait()
            return None

    def worker() -> None:
        while (name := take()) is not None:
            try:
                calls[name]()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
                with changed:
                    failures.append(exc)
                    changed.notify_all()
                return
            with changed:
                done.add(name)
                changed.notify_all()

    threads = [InheritableThread(target=worker, name=f"pmkt-worker-{i}") for i in range(max(1, workers))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        with changed:  # Ctrl-C: the workers finish the call they are in, then stop
            pending.clear()
            changed.notify_all()
        raise
    if failures:
        raise failures[0]
