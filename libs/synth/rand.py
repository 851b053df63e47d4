"""Counter-based randomness: values are hashes of (seed, salt, keys), so output never depends on partitioning."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

_MANTISSA = (1 << 53) - 1


class Rng:
    """Deterministic random columns for one seed; `salt` separates independent draws."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def uniform(self, salt: str, *keys: Column) -> Column:
        """U[0, 1) from the hash of the seed, the salt and the row's keys."""
        bits = F.xxhash64(F.lit(self.seed), F.lit(salt), *keys).bitwiseAND(F.lit(_MANTISSA))
        return bits.cast("double") / float(1 << 53)

    def normal(self, salt: str, *keys: Column) -> Column:
        """N(0, 1) by Box-Muller."""
        u1 = F.greatest(self.uniform(f"{salt}/1", *keys), F.lit(1e-12))
        u2 = self.uniform(f"{salt}/2", *keys)
        return F.sqrt(-2.0 * F.log(u1)) * F.cos(2.0 * math.pi * u2)

    def count(self, salt: str, mean: Column, *keys: Column) -> Column:
        """A non-negative integer near `mean` (normal approximation to Poisson)."""
        draw = mean + F.sqrt(mean) * self.normal(salt, *keys)
        return F.greatest(F.round(draw), F.lit(0)).cast("int")

    def choice(self, salt: str, options: Sequence[str], weights: Sequence[float], *keys: Column) -> Column:
        """One of `options` with the given weights."""
        u = self.uniform(salt, *keys)
        total = float(sum(weights))
        expr, cumulative = None, 0.0
        for option, weight in zip(options[:-1], weights[:-1], strict=True):
            cumulative += weight / total
            expr = F.when(u < cumulative, F.lit(option)) if expr is None else expr.when(u < cumulative, F.lit(option))
        last = F.lit(options[-1])
        return last if expr is None else expr.otherwise(last)

    def pick(self, salt: str, values: Column, *keys: Column) -> Column:
        """A uniformly chosen element of an array column."""
        idx = F.floor(self.uniform(salt, *keys) * F.size(values)).cast("int")
        return F.element_at(values, idx + 1)
