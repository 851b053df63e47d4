"""A table's contract: its grain and its columns, each with a Spark type and a meaning."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import types as T

WINDOW = "<n>"  # in a column name: one column per `features.windows` day count


@dataclass(frozen=True)
class Col:
    """One column: `kind` is Spark's simple type string (`bigint`, `array<string>`); `optional`, when set, says
    when the column may be absent."""

    name: str
    kind: str
    meaning: str = ""
    optional: str = ""

    def matches(self, name: str) -> bool:
        if WINDOW not in self.name:
            return name == self.name
        return re.fullmatch(re.escape(self.name).replace(re.escape(WINDOW), r"\d+"), name) is not None


def expand(columns: Sequence[Col], windows: Sequence[int]) -> list[tuple[str, Col]]:
    """(name, column) in table order: a run of per-window columns repeats once per window (orders_30d,
    revenue_30d, orders_90d, ...)."""
    out: list[tuple[str, Col]] = []
    run: list[Col] = []
    for col in (*columns, None):
        if col is not None and WINDOW in col.name:
            run.append(col)
            continue
        out += [(c.name.replace(WINDOW, str(n)), c) for n in windows for c in run]
        run = []
        if col is not None:
            out.append((col.name, col))
    return out


@dataclass(frozen=True)
class Contract:
    """What a table holds. `extras` says which further columns a conf may add (none when empty)."""

    grain: str
    columns: tuple[Col, ...]
    extras: str = ""
    note: str = ""

    def ddl(self) -> str:
        """The columns as a DDL string, for `createDataFrame` (tables without per-window columns)."""
        return ", ".join(f"`{c.name}` {c.kind}" for c in self.columns)

    def problems(self, schema: T.StructType) -> list[str]:
        """How `schema` breaks the contract: missing, unknown or mistyped columns (empty when it holds)."""
        found: list[str] = []
        for field in schema.fields:
            col = next((c for c in self.columns if c.matches(field.name)), None)
            if col is None:
                if not self.extras:
                    found.append(f"unknown column {field.name}")
            elif field.dataType.simpleString() != col.kind:
                found.append(f"{field.name} is {field.dataType.simpleString()}, not {col.kind}")
        for col in self.columns:
            if not col.optional and not any(col.matches(f.name) for f in schema.fields):
                found.append(f"no column {col.name}")
        return found
