"""Markov-chain attribution: a first-order chain over channels, built in Spark; removal effects solved on it.

The states are `(start)`, each channel, `(conversion)` and `(null)`. A channel's removal effect is the share of
conversions lost when every step into it goes to `(null)` instead: 1 − P(conversion without it) / P(conversion).
Conversions are credited in proportion to the removal effects. The transition counts are aggregated in Spark;
only the channels × channels matrix reaches the driver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"


def transitions(paths: DataFrame) -> DataFrame:
    """(src, dst, n): step counts over the paths, each from (start) through its channels to (conversion) or (null)."""
    states = F.concat(
        F.array(F.lit(START)),
        F.col("channels"),
        F.array(F.when(F.col("converted"), F.lit(CONVERSION)).otherwise(F.lit(NULL))),
    )
    steps = F.arrays_zip(
        F.slice(F.col("s"), 1, F.size("s") - 1).alias("src"), F.slice(F.col("s"), 2, F.size("s")).alias("dst")
    )
    return (
        paths.select(states.alias("s"))
        .select(F.explode(steps).alias("step"))
        .groupBy(F.col("step.src").alias("src"), F.col("step.dst").alias("dst"))
        .agg(F.count(F.lit(1)).alias("n"))
    )


@dataclass(frozen=True)
class Chain:
    channels: tuple[str, ...]
    counts: np.ndarray  # (channels + start) x (channels + conversion + null) step counts

    @classmethod
    def from_counts(cls, rows: list[tuple[str, str, int]]) -> Chain:
        channels = tuple(sorted({s for s, _, _ in rows if s != START} | {d for _, d, _ in rows} - {CONVERSION, NULL}))
        src_index = {c: i for i, c in enumerate((*channels, START))}
        dst_index = {c: i for i, c in enumerate((*channels, CONVERSION, NULL))}
        counts = np.zeros((len(src_index), len(dst_index)))
        for src, dst, n in rows:
            counts[src_index[src], dst_index[dst]] += n
        return cls(channels, counts)

    def conversion_probability(self, removed: str | None = None) -> float:
        """P(a path from (start) ends in (conversion)), with every step into `removed` sent to (null)."""
        k = len(self.channels)
        rows = self.counts.sum(axis=1, keepdims=True)
        p = np.divide(self.counts, rows, out=np.zeros_like(self.counts), where=rows > 0)
        if removed is not None:
            j = self.channels.index(removed)
            p[:, k + 1] += p[:, j]
            p[:, j] = 0.0
            p[j, :] = 0.0  # never entered; it is absorbed like (null)
            p[j, k + 1] = 1.0
        # Absorption: x = Q x + r over the channels, where Q moves between channels and r converts.
        q, r = p[:k, :k], p[:k, k]
        x = np.linalg.solve(np.eye(k) - q, r) if k else np.zeros(0)
        return float(p[k, :k] @ x + p[k, k])

    def removal_effects(self) -> dict[str, float]:
        base = self.conversion_probability()
        if base <= 0:
            return {c: 0.0 for c in self.channels}
        return {c: 1.0 - self.conversion_probability(c) / base for c in self.channels}


def credit(effects: dict[str, float], conversions: float) -> dict[str, float]:
    """Conversions per channel in proportion to the removal effects (none when no channel has an effect)."""
    total = sum(effects.values())
    return {c: conversions * e / total if total > 0 else 0.0 for c, e in effects.items()}
