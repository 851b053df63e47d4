"""Logging: one format for every job, Spark's own noise at WARN."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"


def configure(debug: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format=FORMAT, datefmt="%H:%M:%S")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    # PySpark 4 logs every failed query, with the JVM stack trace, through this logger;
    # the CLI reports the error in one line instead, and --debug shows the trace.
    logging.getLogger("DataFrameQueryContextLogger").setLevel(logging.DEBUG if debug else logging.CRITICAL + 1)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"pmkt.{name.rsplit('.', 1)[-1]}")


@contextmanager
def timed(log: logging.Logger, what: str) -> Iterator[dict[str, int]]:
    """Log a start line, then a finish line with the timing and the rows the block reports."""
    stats: dict[str, int] = {}
    start = time.perf_counter()
    log.info("start %s", what)
    yield stats
    rows = f", {stats['rows']:,} rows written" if "rows" in stats else ""
    log.info("done %s in %.1fs%s", what, time.perf_counter() - start, rows)
