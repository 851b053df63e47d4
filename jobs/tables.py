"""`tables`: every Delta table in the catalogue with its version and row count."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyspark.sql import SparkSession

from pmkt.libs import tables, text
from pmkt.libs.config import Config
from pmkt.libs.lake import Lake, count_rows
from pmkt.libs.runner import run_job

READ_ONLY = True  # writes nothing: runs without the lake's writer lock


def summary(spark: SparkSession, config: Config) -> list[tuple[str, int, int, str]]:
    """(table, version, rows, location) for each table that exists."""
    lake = Lake(spark, config.lake)
    rows = []
    for table in tables.CATALOGUE:
        version = lake.version(table)
        if version is not None:
            rows.append((str(table), version, count_rows(lake, table), lake.location(table)))
    return rows


def render(rows: Sequence[tuple[str, int, int, str]]) -> str:
    body = [(t, str(v), f"{n:,}", loc) for t, v, n, loc in rows]
    return text.columns(("table", "version", "rows", "location"), body, right={1, 2})


def run(spark: SparkSession, config: Config) -> None:
    rows = summary(spark, config)
    print(render(rows) if rows else f"no Delta tables under {config.lake.root}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("tables", run, sys.argv[1:] if argv is None else argv, lock=not READ_ONLY)


if __name__ == "__main__":
    sys.exit(main())
