"""Small DataFrame helpers shared across domains."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import reduce

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import types as T


def union_all(frames: Sequence[DataFrame]) -> DataFrame:
    """Union by column name; every frame must have the same columns."""
    if not frames:
        raise ValueError("union_all needs at least one DataFrame")
    return reduce(DataFrame.unionByName, frames)


def local_frame(spark: SparkSession, rows: Iterable[Sequence[object]], schema: T.StructType | str) -> DataFrame:
    """A small driver-side table that later queries scan from executor memory, not from Python.

    `createDataFrame` over a list is a Python RDD: every query that scans it starts a Python task per
    partition (a fifth of a second each here). Frames read by many queries are materialised once.
    """
    return spark.createDataFrame(list(rows), schema).coalesce(1).localCheckpoint(eager=True)


def one(df: DataFrame) -> Row:
    """The row of a query that always yields exactly one, such as a global aggregate or a table's last commit."""
    row = df.first()
    if row is None:
        raise ValueError("expected one row, the query returned none")
    return row
