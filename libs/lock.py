"""One writer at a time per lake: a lock row in a Delta table, taken by a conflict-checked MERGE.

Two jobs on one lake would otherwise both read the same new files, or one would clear what it takes
for another's unfinished run. Delta's optimistic concurrency makes the lock work on every store Delta
supports: two MERGEs that both find the lock free cannot both commit; the loser sees a conflict, reads
the holder and waits. A holder that died (same host, process gone) is taken over.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import Row
from pyspark.sql import functions as F

from pmkt.libs import contracts, tables
from pmkt.libs.errors import UserError
from pmkt.libs.frames import one
from pmkt.libs.lake import Lake, is_conflict
from pmkt.libs.log import get_logger

log = get_logger(__name__)
NAME = "lake"
SCHEMA = contracts.CONTRACTS[tables.LAKE_LOCK].ddl()
POLL_SECONDS = 2.0


@contextmanager
def lake_lock(lake: Lake, job: str, wait_seconds: float) -> Iterator[None]:
    """Hold the lake's writer lock for the block; wait up to `wait_seconds` for another job, then fail."""
    me = Row(
        name=NAME,
        holder=uuid.uuid4().hex,
        job=job,
        host=socket.gethostname(),
        pid=os.getpid(),
        since=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
    )
    _acquire(lake, me, wait_seconds)
    try:
        yield
    finally:
        lake.delete(tables.LAKE_LOCK, F.col("holder") == me.holder)


def _acquire(lake: Lake, me: Row, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    told = False
    # Claim first: a free lake costs one MERGE, whose own counts say whether this process inserted the row.
    # Waiting polls with reads, and claims again only when the lock looks free or its holder dead.
    if _claim(lake, me, None):
        return
    while True:
        holder = _current(lake)
        stale = holder is not None and holder.host == me.host and not _alive(holder.pid)
        if holder is None or stale:
            if _claim(lake, me, holder.holder if holder is not None else None):
                return
            continue
        if time.monotonic() > deadline:
            raise UserError(
                f"lake {lake.config.root} is in use by `{holder.job}` (pid {holder.pid} on {holder.host} since "
                f"{holder.since:%Y-%m-%d %H:%M} UTC); run again when it ends. If it is gone, delete the lock table "
                f"at {lake.location(tables.LAKE_LOCK)}"
            )
        if not told:
            log.warning(
                "waiting for `%s` (pid %s on %s) to finish with lake %s",
                holder.job,
                holder.pid,
                holder.host,
                lake.config.root,
            )
            told = True
        time.sleep(POLL_SECONDS)


def _current(lake: Lake) -> Row | None:
    if not lake.exists(tables.LAKE_LOCK):
        return None
    return lake.read(tables.LAKE_LOCK).where(F.col("name") == NAME).first()  # at most one row


def _claim(lake: Lake, me: Row, stale_holder: str | None) -> bool:
    """Insert the lock row if there is none (or replace a dead holder's); True if this call wrote it.

    Two claims that both find the lake free cannot both commit: Delta fails the later one with a conflict.
    """
    mine = lake.spark.createDataFrame([me], SCHEMA)
    try:
        if not lake.exists(tables.LAKE_LOCK):
            lake.write(mine.limit(0), tables.LAKE_LOCK, mode="append")
        merge = lake.delta(tables.LAKE_LOCK).alias("t").merge(mine.alias("s"), "t.name = s.name")
        if stale_holder is not None:
            merge = merge.whenMatchedUpdateAll(condition=F.col("t.holder") == stale_holder)
        counts = one(merge.whenNotMatchedInsertAll().execute())  # one row: the MERGE's own counts
    except Exception as exc:  # noqa: BLE001 - only Delta's write conflicts are expected here
        if not is_conflict(exc):
            raise
        return False
    return int(counts["num_inserted_rows"]) + int(counts["num_updated_rows"]) == 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
