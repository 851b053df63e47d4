"""Declarative data-quality expectations and population-stability drift, evaluated in Spark.

Each expectation is one aggregation over its table: a bounded row of numbers comes back to the driver.
`row_count_change` and `mean_change` compare with the same rule's last stored evaluation.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.ml.feature import Bucketizer
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pmkt.libs import contracts, tables
from pmkt.libs.config import Expectation
from pmkt.libs.errors import UserError
from pmkt.libs.frames import one
from pmkt.libs.lake import Lake
from pmkt.libs.tables import TableId

RESULT_SCHEMA = contracts.CONTRACTS[tables.DATA_QUALITY].ddl()
DRIFT_SCHEMA = contracts.CONTRACTS[tables.DRIFT].ddl()
EPSILON = 1e-4  # an empty bin's share, so PSI stays finite


class QualityGateError(UserError):
    """A `fail` expectation did not hold: the pipeline stops before the models."""


@dataclass(frozen=True)
class Outcome:
    expectation: Expectation
    rows: int
    failing: float  # rows failing, or for whole-table rules the relative change / 1.0 when stale
    observed: float | None  # the measured value: a mean, a row count, an age in days

    @property
    def share(self) -> float:
        whole_table = self.expectation.rule in ("freshness", "row_count_change", "mean_change")
        return self.failing if whole_table else (self.failing / self.rows if self.rows else 0.0)

    @property
    def allowed(self) -> float:
        """The largest share that passes: the allowed relative change for the change rules."""
        e = self.expectation
        if e.rule in ("row_count_change", "mean_change"):
            return float(e.max_change or 0.0)
        return 0.0 if e.rule == "freshness" else e.max_share

    @property
    def passed(self) -> bool:
        return self.share <= self.allowed + 1e-12


def table_id(name: str) -> TableId:
    found = [t for t in tables.CATALOGUE if str(t) == name]
    if not found:
        raise UserError(f"quality expectation names unknown table '{name}' (tables: silver.customers, ...)")
    return found[0]


def evaluate(lake: Lake, expectation: Expectation, previous: float | None) -> Outcome | None:
    """One expectation on its table; None when the table does not exist (nothing to check yet)."""
    table = table_id(expectation.table)
    if not lake.exists(table):
        return None
    df = lake.read(table)
    if expectation.column and expectation.column not in df.columns:
        raise UserError(f"quality expectation {expectation.rule} on {table}: no column '{expectation.column}'")
    # Every rule but row_count_change names a column (the config checks it); that one never reads `col`.
    rule, col = expectation.rule, F.col(f"`{expectation.column}`") if expectation.column else F.lit(None)
    if rule == "references":
        ref = lake.read(table_id(str(expectation.ref_table))).select(F.col(str(expectation.ref_column)).alias("_ref"))
        missing = df.where(col.isNotNull()).join(ref.distinct(), on=col == F.col("_ref"), how="left_anti")
        return Outcome(expectation, df.count(), float(missing.count()), None)
    if rule == "unique":
        row = one(
            df.agg(F.count(F.lit(1)).alias("n"), F.count_distinct(col).alias("d"), F.count(col).alias("nn"))
        )  # one row
        return Outcome(expectation, row["n"], float(row["nn"] - row["d"]), float(row["d"]))
    failing, observed = _measures(expectation, col)
    row = one(df.agg(F.count(F.lit(1)).alias("n"), failing.alias("f"), observed.alias("o")))  # one row
    n, value = int(row["n"]), None if row["o"] is None else float(row["o"])
    if rule == "freshness":
        stale = value is None or value > float(expectation.max_age_days or 0.0)  # the config requires it
        return Outcome(expectation, n, float(stale), value)
    if rule in ("row_count_change", "mean_change"):
        current = float(n) if rule == "row_count_change" else value
        return Outcome(expectation, n, _change(previous, current, expectation.max_change), current)
    return Outcome(expectation, n, float(row["f"] or 0), value)


def _measures(expectation: Expectation, col: Column) -> tuple[Column, Column]:
    """(rows failing, observed value) as aggregate expressions."""
    rule = expectation.rule
    nothing = F.lit(0.0)
    if rule == "not_null":
        return F.sum(F.when(col.isNull(), 1).otherwise(0)), F.avg(F.when(col.isNull(), 1.0).otherwise(0.0))
    if rule == "range":
        low = col < F.lit(expectation.min) if expectation.min is not None else F.lit(False)
        high = col > F.lit(expectation.max) if expectation.max is not None else F.lit(False)
        return F.sum(F.when(low | high, 1).otherwise(0)), F.avg(col)
    if rule == "accepted_values":
        return F.sum(F.when(col.isNotNull() & ~col.cast("string").isin(*expectation.values), 1).otherwise(0)), nothing
    if rule == "freshness":
        newest = F.max(col).cast("timestamp")
        return nothing, (F.unix_timestamp(F.current_timestamp()) - F.unix_timestamp(newest)) / 86400.0
    if rule == "mean_change":
        return nothing, F.avg(col)
    return nothing, F.lit(None).cast("double")  # row_count_change: the count itself


def _change(previous: float | None, current: float | None, allowed: float | None) -> float:
    """Relative change against the last evaluation; 0 on the first one (nothing to compare with)."""
    if previous is None or current is None:
        return 0.0
    if previous == 0:
        return 0.0 if current == 0 else math.inf
    return abs(current - previous) / abs(previous)


def previous_observed(lake: Lake) -> dict[tuple[str, str, str], float]:
    """The last stored observed value of each (table, rule, column): bounded by the number of expectations."""
    if not lake.exists(tables.DATA_QUALITY):
        return {}
    stored = lake.read(tables.DATA_QUALITY).where(F.col("observed").isNotNull())
    last = stored.groupBy("table", "rule", "column").agg(F.max_by("observed", "evaluated_at").alias("observed"))
    return {(r["table"], r["rule"], r["column"] or ""): float(r["observed"]) for r in last.collect()}


def gate(outcomes: Sequence[Outcome]) -> None:
    """Stop with one line naming the first failing `fail` expectation: table, rule and failing share."""
    failed = [o for o in outcomes if not o.passed and o.expectation.severity == "fail"]
    if failed:
        o = failed[0]
        e = o.expectation
        what = f"{e.rule}({e.column})" if e.column else e.rule
        more = f" (and {len(failed) - 1} more failing expectation(s))" if len(failed) > 1 else ""
        raise QualityGateError(
            f"data quality: {e.table} failed {what}: failing share {_pct(o.share)} > allowed {_pct(o.allowed)}"
            f"{more}; see gold.data_quality. The models were not run"
        )


def _pct(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.2%}"


def drift(lake: Lake, table: TableId, columns: Sequence[str], bins: int) -> list[tuple[str, dt.date, dt.date, float]]:
    """PSI of each numeric column between the two latest snapshots of `table` (none with fewer than two)."""
    if not lake.exists(table):
        return []
    df = lake.read(table)
    days = [r[0] for r in df.select("snapshot_date").distinct().orderBy(F.desc("snapshot_date")).limit(2).collect()]
    if len(days) < 2:
        return []
    current, reference = days
    ref = df.where(F.col("snapshot_date") == F.lit(reference))
    cur = df.where(F.col("snapshot_date") == F.lit(current))
    cols = [c for c in columns if isinstance(df.schema[c].dataType, T.NumericType)]
    if not cols:
        return []
    probs = [i / bins for i in range(1, bins)]
    quantiles = ref.select([F.col(c).cast("double").alias(c) for c in cols]).approxQuantile(cols, probs, 0.001)
    # Bounded: bins per column. A column null in every reference row (event features of a shop with no events) has
    # no quantiles; any one split will do, as its rows all fall in the null bin: PSI 0 while it stays null.
    splits = [[-math.inf, *(sorted(set(q)) or [0.0]), math.inf] for q in quantiles]
    shares = {side: _bin_shares(frame, cols, splits) for side, frame in (("ref", ref), ("cur", cur))}
    return [(c, reference, current, psi(shares["ref"].get(c, {}), shares["cur"].get(c, {}))) for c in cols]


def psi(expected: dict[float, float], actual: dict[float, float]) -> float:
    """Population stability index: sum over bins of (actual - expected) * ln(actual / expected)."""
    total = 0.0
    for b in set(expected) | set(actual):
        e, a = max(expected.get(b, 0.0), EPSILON), max(actual.get(b, 0.0), EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def _bin_shares(frame: DataFrame, cols: Sequence[str], splits: list[list[float]]) -> dict[str, dict[float, float]]:
    """Share of rows in each bin (nulls in their own bin), per column: one MLlib Bucketizer pass, one aggregation."""
    doubles = frame.select([F.col(c).cast("double").alias(c) for c in cols])
    bucketed = Bucketizer(
        splitsArray=splits, inputCols=list(cols), outputCols=[f"_b_{c}" for c in cols], handleInvalid="keep"
    ).transform(doubles)
    long = bucketed.select(
        F.explode(F.array(*[F.struct(F.lit(c).alias("c"), F.col(f"_b_{c}").alias("b")) for c in cols])).alias("x")
    ).select("x.c", "x.b")
    counts = long.groupBy("c", "b").count().collect()  # bounded: columns x bins
    totals: dict[str, int] = {}
    for r in counts:
        totals[r["c"]] = totals.get(r["c"], 0) + r["count"]
    out: dict[str, dict[float, float]] = {}
    for r in counts:
        out.setdefault(r["c"], {})[r["b"]] = r["count"] / totals[r["c"]]
    return out


def level(psi: float, warn: float, alert: float) -> str:
    return "alert" if psi >= alert else "warn" if psi >= warn else "ok"
