"""Point-in-time checks: a feature that moves when only post-cutoff data moves is computed from the future."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs.c360.snapshot import Inputs
from pmkt.libs.frames import one

Builder = Callable[[Inputs, dt.date], DataFrame]


def _shift_future(df: DataFrame | None, ts: str, cutoff: dt.date, days: int) -> DataFrame | None:
    """Move every row on or after the cutoff `days` later; rows before it stay put."""
    if df is None:
        return None
    start = dt.datetime.combine(cutoff, dt.time())
    moved = F.when(F.col(ts) >= F.lit(start), F.col(ts) + F.make_interval(days=F.lit(days))).otherwise(F.col(ts))
    return df.withColumn(ts, moved)


def fingerprint(df: DataFrame) -> dict[str, int]:
    """One order-independent hash per column (a row of numbers, however many customers)."""
    cols = [c for c in df.columns if c != "customer_id"]
    row = one(
        df.agg(
            *[
                F.sum(F.xxhash64(F.col("customer_id"), F.to_json(F.struct(F.col(f"`{c}`")))) % 1_000_000_007).alias(c)
                for c in cols
            ]
        )
    )
    return {c: int(row[c] or 0) for c in cols}


def leaky_columns(build: Builder, inputs: Inputs, cutoff: dt.date, shift_days: int = 45) -> list[str]:
    """Columns of `build(inputs, cutoff)` that change when only data on or after the cutoff is moved."""
    shifted = Inputs(
        lines=_shift_future(inputs.lines, "order_ts", cutoff, shift_days),
        events=_shift_future(inputs.events, "event_ts", cutoff, shift_days),
        customers=inputs.customers,
        products=inputs.products,
        contacts=_shift_future(inputs.contacts, "sent_ts", cutoff, shift_days),
    )
    before, after = fingerprint(build(inputs, cutoff)), fingerprint(build(shifted, cutoff))
    return sorted(c for c in before if before[c] != after.get(c))
