"""Run ledger: what a job appends to a log table (metrics, model versions, audits) counts once the run finished.

Each append is its own Delta commit, so a job killed between two of them would leave part of a run behind,
and its re-run would add a second copy. Every such row carries the run id; `system.job_runs` records the runs
that finished, and is the commit point. Before it starts, a job deletes what its own unfinished runs left in
the tables it logs to, so a re-run converges on the tables of an uninterrupted run. The model versions such a
run registered in MLflow are deleted the same way (`libs.tracking`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pyspark.sql import functions as F

from pmkt.libs import tables
from pmkt.libs.errors import UserError
from pmkt.libs.frames import union_all
from pmkt.libs.lake import Lake
from pmkt.libs.log import get_logger
from pmkt.libs.tables import TableId

log = get_logger(__name__)
MODEL_LOGS = (tables.MODEL_METRICS,)  # where a model job logs its evaluation (its versions: libs.tracking)


def new_run_id(job: str) -> str:
    return f"{job}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@contextmanager
def job_run(lake: Lake, job: str, logs_to: Sequence[TableId]) -> Iterator[str]:
    """A run id for one run of `job`, whose rows in `logs_to` (tables of RUN_LOGGED) count once it finished.

    A run that ends in a `UserError` (a verdict the job reached, such as a failed quality gate) counts as
    finished: its rows record why. Any other exception, or a kill, leaves it unfinished.
    """
    _ensure_ledger(lake)
    drop_unfinished(lake, job, logs_to)
    run_id = new_run_id(job)
    try:
        yield run_id
    except UserError:
        _finish(lake, run_id, job)
        raise
    _finish(lake, run_id, job)


def drop_unfinished(lake: Lake, job: str, logs_to: Sequence[TableId]) -> None:
    """Delete the rows earlier, unfinished runs of `job` left in `logs_to` (the lake lock keeps others out).

    One query looks in every table at once: after a clean run it finds nothing, and that is the usual case.
    """
    present = [t for t in logs_to if lake.exists(t)]
    if not present:
        return
    finished = lake.read(tables.JOB_RUNS).select("run_id")
    logged = union_all(
        [
            lake.read(t).where(F.col("run_id").startswith(f"{job}-")).select("run_id", F.lit(i).alias("_table"))
            for i, t in enumerate(present)
        ]
    )
    left = logged.distinct().join(finished, on="run_id", how="left_anti")
    found = left.limit(1000).collect()  # bounded: one per killed run and table, normally none
    for i, table in enumerate(present):
        runs = sorted(r.run_id for r in found if r["_table"] == i)
        if runs:
            log.warning(
                "%s: removing what %d unfinished run(s) left in %s (%s)", job, len(runs), table, ", ".join(runs[:3])
            )
            keys = lake.spark.createDataFrame([(r,) for r in runs], "run_id string")
            lake.delete_matching(table, keys, "t.run_id = s.run_id")


def _finish(lake: Lake, run_id: str, job: str) -> None:
    row = lake.spark.createDataFrame([(run_id, job)], "run_id string, job string")
    lake.write(row.withColumn("finished_at", F.current_timestamp()), tables.JOB_RUNS, mode="append")


def _ensure_ledger(lake: Lake) -> None:
    """Create the ledger on first use; runs logged before it existed count as finished (a lake from before)."""
    if lake.exists(tables.JOB_RUNS):
        return
    earlier = [lake.read(t).select("run_id") for t in tables.RUN_LOGGED if lake.exists(t)]
    ledger = union_all([lake.spark.createDataFrame([], "run_id string"), *earlier])
    ledger = (
        ledger.where(F.col("run_id").isNotNull())
        .distinct()
        .select("run_id", F.split("run_id", "-").getItem(0).alias("job"), F.current_timestamp().alias("finished_at"))
    )
    lake.write(ledger, tables.JOB_RUNS, mode="append")
