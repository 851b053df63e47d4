"""Small DataFrame helpers shared across domains."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import reduce

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
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


def laid_out(df: DataFrame, keys: Sequence[str]) -> DataFrame:
    """`df` hashed on `keys` into the default parallelism's partitions and sorted: the same rows end up in the same
    partitions, in the same order, however the lake's files delivered them.

    MLlib's samplers draw per partition, seeded by the partition's index (a tree's split candidates, a forest's
    bags, k-means||'s first centres), so a fit's input layout is part of its model. Rows that share the keys go in
    the order of a hash of every column that can be hashed.
    """
    parts = max(df.sparkSession.sparkContext.defaultParallelism, 1)
    atomic = (T.StringType, T.NumericType, T.DateType, T.TimestampType, T.BooleanType)
    content = F.xxhash64(*[F.col(f"`{f.name}`") for f in df.schema.fields if isinstance(f.dataType, atomic)])
    return df.repartition(parts, *keys).sortWithinPartitions(*keys, content)
