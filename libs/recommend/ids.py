"""Stable integer ids for ALS: string ids map through persisted index tables that only ever grow."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pmkt.libs import tables
from pmkt.libs.frames import one
from pmkt.libs.lake import Lake

MAX_INDEX = 2**31 - 1  # ALS ids are Java ints


def update(lake: Lake, table: tables.TableId, ids: DataFrame, id_col: str, idx_col: str) -> DataFrame:
    """Give ids not in `table` the next free integers (in id order), store them, return the whole index.

    Existing ids keep their integer forever; `zipWithIndex` numbers the new ones without pulling
    them onto one partition.
    """
    new = ids.select(id_col).where(F.col(id_col).isNotNull()).distinct()
    start = 0
    if lake.exists(table):
        known = lake.read(table)
        new = new.join(known.select(id_col), on=id_col, how="left_anti")
        start = int(one(known.agg(F.coalesce(F.max(idx_col) + 1, F.lit(0))))[0])  # one value
    numbered = new.orderBy(id_col).rdd.zipWithIndex().map(lambda pair: (pair[0][0], start + pair[1]))
    schema = T.StructType([T.StructField(id_col, T.StringType()), T.StructField(idx_col, T.LongType())])
    rows = lake.spark.createDataFrame(numbered, schema).select(
        id_col, F.col(idx_col).cast("int").alias(idx_col), F.current_timestamp().alias("first_seen")
    )
    if lake.exists(table):
        lake.merge(rows, table, keys=[id_col], update=False)
    else:
        lake.write(rows, table, mode="overwrite")
    index = lake.read(table)
    if one(index.agg(F.max(idx_col)))[0] >= MAX_INDEX:  # one value
        raise OverflowError(f"{table} passed {MAX_INDEX} ids")
    return index
