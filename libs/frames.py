"""Small DataFrame helpers shared across domains."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from pyspark.sql import DataFrame


def union_all(frames: Sequence[DataFrame]) -> DataFrame:
    """Union by column name; every frame must have the same columns."""
    if not frames:
        raise ValueError("union_all needs at least one DataFrame")
    return reduce(DataFrame.unionByName, frames)
