"""Plants bad rows in raw exports, one class per row, and records each in ground truth."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pmkt.libs.frames import local_frame
from pmkt.libs.synth.rand import Rng

Mutation = Callable[[dict[str, Column]], dict[str, Column]]


@dataclass(frozen=True)
class BadClass:
    reason: str
    mutate: Mutation | None = None  # None: the line itself is broken (malformed) or copied (duplicate)


def _set(column: str, value: object) -> Mutation:
    return lambda cols: {**cols, column: F.lit(value).cast("string")}


MALFORMED, DUPLICATE = BadClass("malformed"), BadClass("duplicate")
CLASSES: dict[str, tuple[BadClass, ...]] = {
    "events": (
        MALFORMED,
        DUPLICATE,
        BadClass("null_key", _set("customer_id", None)),
        BadClass("wrong_type", _set("event_ts", "31/13/2025 25:61")),
        BadClass("future_timestamp", _set("event_ts", "2099-06-01T12:00:00")),
        BadClass("unknown_event_type", _set("event_type", "hover")),
        BadClass("unknown_product", _set("product_id", "P-UNKNOWN")),
        BadClass("too_long", _set("device", "x" * 600)),
    ),
    "transactions": (
        MALFORMED,
        DUPLICATE,
        BadClass("null_key", _set("order_id", None)),
        BadClass("negative_value", _set("quantity", "-2")),
        BadClass("wrong_type", _set("unit_price", "12,99 EUR")),
        BadClass("future_timestamp", _set("order_ts", "2099-06-01 12:00:00")),
        BadClass("unknown_product", _set("product_id", "P-UNKNOWN")),
    ),
    "customers": (
        MALFORMED,
        DUPLICATE,
        BadClass("null_key", _set("customer_id", None)),
        BadClass("wrong_type", _set("birth_date", "not a date")),
    ),
    "products": (
        MALFORMED,
        BadClass("null_key", _set("product_id", None)),
        BadClass("negative_value", _set("price", "-5.00")),
    ),
    "campaign_contacts": (
        DUPLICATE,
        BadClass("null_key", _set("customer_id", None)),
        BadClass("wrong_type", _set("converted", "maybe")),
        BadClass("negative_value", _set("cost", "-1.0")),
    ),
}


def csv_line(cols: Sequence[Column]) -> Column:
    """A CSV line; fields are quoted only when they hold a separator or a quote."""

    def field(c: Column) -> Column:
        quoted = F.concat(F.lit('"'), F.regexp_replace(c, '"', '""'), F.lit('"'))
        return F.coalesce(F.when(c.rlike('[,"]'), quoted).otherwise(c), F.lit(""))

    return F.concat_ws(",", *[field(c) for c in cols])


def json_line(names: Sequence[str], cols: Sequence[Column]) -> Column:
    return F.to_json(F.struct(*[c.alias(n) for n, c in zip(names, cols, strict=True)]))


def plant(
    rows: DataFrame,
    entity: str,
    keys: Sequence[str],
    fmt: str,
    per_class: int,
    rng: Rng,
    pii: bool,
) -> tuple[DataFrame, DataFrame]:
    """Bad copies of some of the string-typed `rows`, as ready-made lines, plus their truth.

    The clean rows all stay in the export: a bad row is an extra, broken re-export of a real one,
    so planting bad rows never removes data the planted truth depends on.
    """
    classes = CLASSES[entity]
    names = rows.columns
    key_of = F.concat_ws("|", *[F.col(k) for k in keys])
    # Exactly per_class rows per class, taken by smallest hash (a top-k, not a sort). The pick is
    # bounded by per_class x classes rows, so it is collected and numbered on the driver.
    top = (
        rows.withColumn("_h", rng.uniform(f"bad/{entity}", key_of))
        .orderBy("_h")
        .limit(per_class * len(classes))
        .collect()  # the picks: per_class x classes rows
    )
    numbered = [(*row[:-1], i, i % len(classes)) for i, row in enumerate(top)]
    schema = T.StructType(
        [*rows.schema.fields, T.StructField("_i", T.IntegerType()), T.StructField("_class", T.IntegerType())]
    )
    picked = local_frame(rows.sparkSession, numbered, schema)  # read by the lines and by the truth
    lines, bad_keys = [], []
    for bad in classes:
        cols = {n: F.col(n) for n in names}
        if bad.mutate is not None:
            cols = bad.mutate(cols)
        ordered = [cols[n] for n in names]
        line = csv_line(ordered) if fmt == "csv" else json_line(names, ordered)
        if bad is MALFORMED:
            line = F.concat_ws(",", *ordered[:3]) if fmt == "csv" else F.expr("substring(to_json(struct(*)), 1, 25)")
        key = F.concat_ws("|", *[cols[k] for k in keys]) if bad is not MALFORMED else F.lit(None)
        bad_keys.append(F.when(~F.exists(F.array(*[cols[k] for k in keys]), lambda x: x.isNull()), key))
        lines.append(line)
    # One projection that picks each row's class, not a union of a query per class: one scan, a small plan.
    bad_lines = picked.select(
        F.lit(entity).alias("entity"),
        _by_class([F.lit(bad.reason) for bad in classes]).alias("reason"),
        _by_class(bad_keys).cast("string").alias("key"),
        _by_class(lines).alias("line"),
        "_i",
    )
    truth = bad_lines.select(
        "entity",
        "reason",
        "key",
        (F.lit(None).cast("string") if pii else F.col("line")).alias("raw_line"),
    )
    return bad_lines.select("line", "_i"), truth


def _by_class(values: Sequence[Column]) -> Column:
    """values[c] on the rows of class c."""
    out = F.when(F.col("_class") == 0, values[0])
    for idx, value in enumerate(values[1:], start=1):
        out = out.when(F.col("_class") == idx, value)
    return out
