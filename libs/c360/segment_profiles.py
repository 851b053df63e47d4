"""Segment profiles: size, share, feature means in original units, what sets each segment apart, and a name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs.frames import one

PROFILE_SCHEMA = (
    "segment_id int, segment_name string, size long, share double, "
    "feature_means map<string,double>, distinguishing array<string>"
)
Z_STRONG = 0.5  # standard deviations from the population mean that count as "high" or "low"


def segment_stats(
    joined: DataFrame, features: Sequence[str]
) -> tuple[dict[int, dict[str, float]], dict[str, tuple[float, float]], dict[int, int]]:
    """Per-segment means, population (mean, std) and sizes; all bounded by k x features."""
    per_segment = (
        joined.groupBy("segment_id")
        .agg(F.count(F.lit(1)).alias("_size"), *[F.avg(F.col(f)).alias(f) for f in features])
        .collect()  # k rows
    )
    pop = one(
        joined.agg(
            *[F.avg(F.col(f)).alias(f"m_{f}") for f in features],
            *[F.stddev_pop(F.col(f)).alias(f"s_{f}") for f in features],
        )
    )
    means = {int(r.segment_id): {f: r[f] for f in features if r[f] is not None} for r in per_segment}
    population = {f: (float(pop[f"m_{f}"] or 0.0), float(pop[f"s_{f}"] or 0.0)) for f in features}
    sizes = {int(r.segment_id): int(r["_size"]) for r in per_segment}
    return means, population, sizes


def z_scores(means: Mapping[str, float], population: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    return {f: (v - population[f][0]) / population[f][1] for f, v in means.items() if population[f][1] > 0}


def auto_name(z: Mapping[str, float]) -> str:
    """A readable name from how the segment differs from the population, e.g. 'Lapsing bargain hunters'."""

    def high(f: str) -> bool:
        return z.get(f, 0.0) > Z_STRONG

    def low(f: str) -> bool:
        return z.get(f, 0.0) < -Z_STRONG

    if low("conversion_rate") and (high("views_per_session") or high("cart_abandonment_rate")):
        noun = "window shoppers"
    elif low("price_index") or low("avg_order_value"):
        noun = "bargain hunters"
    elif high("frequency") or high("sessions") or high("sessions_per_month"):
        noun = "frequent buyers"
    elif low("frequency") or low("sessions") or low("sessions_per_month"):
        noun = "occasional buyers"
    elif high("mobile_share"):
        noun = "mobile shoppers"
    else:
        noun = "customers"
    if high("recency_days"):
        prefix = "Lapsing"
    elif high("monetary") or high("avg_order_value"):
        prefix = "High-value"
    elif low("monetary"):
        prefix = "Low-value"
    else:
        prefix = "Mid-value"
    return f"{prefix} {noun}"


def distinguishing(z: Mapping[str, float], top: int = 3) -> list[str]:
    ranked = sorted(z.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:top]
    return [f"{f} {v:+.1f} sd" for f, v in ranked]


def unique_names(names: Mapping[int, str], zs: Mapping[int, Mapping[str, float]]) -> dict[int, str]:
    """Every segment's name unique. Segments that share a name are told apart by the feature on which each differs
    most from the others of that name, e.g. 'High-value frequent buyers, higher recency_days' and '..., lower
    recency_days'; the segment id breaks what still ties."""
    out = {}
    for sid, name in names.items():
        others = [zs[o] for o, n in names.items() if n == name and o != sid]
        apart = _apart(zs[sid], others) if others else None
        out[sid] = f"{name}, {apart}" if apart else name
    times = Counter(out.values())
    return {sid: (f"{n} ({sid})" if times[n] > 1 else n) for sid, n in out.items()}


def _apart(z: Mapping[str, float], others: Sequence[Mapping[str, float]]) -> str | None:
    """'higher f' or 'lower f' for the feature f on which `z` is furthest from the mean of `others` (the first
    in name order on a tie); None when it is no different."""
    gaps = {
        f: z.get(f, 0.0) - sum(o.get(f, 0.0) for o in others) / len(others)
        for f in sorted({f for one_z in (z, *others) for f in one_z})
    }
    feature = max(gaps, key=lambda f: abs(gaps[f]), default=None)
    if feature is None or gaps[feature] == 0:
        return None
    return f"{'higher' if gaps[feature] > 0 else 'lower'} {feature}"


def build(
    spark: SparkSession,
    joined: DataFrame,
    features: Sequence[str],
    names: Mapping[int, str] | None = None,
    fixed: Mapping[int, str] | None = None,
) -> tuple[DataFrame, dict[int, str]]:
    """gold.segment_profiles rows (without the snapshot column) and the names used.

    `names` (saved with a model) are reused as they are; otherwise segments are named automatically.
    `fixed` names special segments (e.g. no activity) either way.
    """
    means, population, sizes = segment_stats(joined, features)
    total = sum(sizes.values())
    zs = {sid: z_scores(m, population) for sid, m in means.items()}
    fixed = dict(fixed or {})
    auto = {sid: auto_name(z) for sid, z in zs.items() if sid not in fixed}
    chosen = dict(names) if names else unique_names(auto, zs)
    chosen.update(fixed)
    rows = [
        (
            sid,
            chosen.get(sid, f"Segment {sid}"),
            sizes[sid],
            sizes[sid] / total,
            {f: float(v) for f, v in means[sid].items()},
            distinguishing(zs[sid]),
        )
        for sid in sorted(sizes)
    ]
    return spark.createDataFrame(rows, PROFILE_SCHEMA), chosen
