"""RFM quintile scores, named RFM segments and rule-based tags: the customer portrait."""

from __future__ import annotations

import string
from collections.abc import Sequence

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pmkt.libs.config import ProfilesConfig, TagRule
from pmkt.libs.errors import ConfigError
from pmkt.libs.frames import one

QUANTILES = (0.2, 0.4, 0.6, 0.8)
SCORED = {"r_score": "recency_days", "f_score": "frequency", "m_score": "monetary", "aov_score": "avg_order_value"}


def cut_points(features: DataFrame) -> dict[str, list[float]]:
    """Quintile boundaries of recency, frequency, monetary and order value among buyers (a handful of numbers)."""
    buyers = features.where(F.col("frequency") > 0)
    row = one(
        buyers.agg(
            *[
                F.percentile_approx(F.col(src).cast("double"), list(QUANTILES), 100000).alias(score)
                for score, src in SCORED.items()
            ]
        )
    )
    return {score: list(row[score] or []) for score in SCORED}


def quintile(value: Column, cuts: Sequence[float], reverse: bool = False) -> Column:
    """1..5: one plus the number of quintile boundaries strictly below the value (reversed for recency)."""
    below = sum((value > float(c)).cast("int") for c in cuts) if cuts else F.lit(0)
    return (F.lit(5) - below) if reverse else (F.lit(1) + below)


def rfm_segment(rules: ProfilesConfig) -> Column:
    """The first rule whose R and F ranges contain the customer's scores."""
    r, f = F.col("r_score"), F.col("f_score")
    expr = F.when(F.col("frequency") <= 0, F.lit(rules.non_buyer_segment))
    for rule in rules.rfm_segments:
        expr = expr.when(r.between(*rule.r) & f.between(*rule.f), F.lit(rule.name))
    return expr


def tag_name(template: str) -> Column:
    """A tag name such as 'category lover:{top_category}' as a column expression."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(template):
        if literal:
            parts.append(F.lit(literal))
        if field:
            parts.append(F.coalesce(F.col(field).cast("string"), F.lit("unknown")))
    return F.concat(*parts) if parts else F.lit(template)


def check_tags(df: DataFrame, tags: Sequence[TagRule]) -> None:
    """Fail with the config key when a tag's condition or name doesn't resolve against the profile columns."""
    for i, tag in enumerate(tags):
        try:
            df.select(F.expr(tag.when).cast("boolean"), tag_name(tag.name)).schema  # noqa: B018 - analysis only
        except AnalysisException as exc:
            first = str(exc).splitlines()[0][:200]
            raise ConfigError(f"config key 'profiles.tags[{i}]' ({tag.name}) does not resolve: {first}") from None


def build(features: DataFrame, cfg: ProfilesConfig) -> DataFrame:
    """gold.customer_profiles rows for one snapshot of gold.customer_features."""
    cuts = cut_points(features)
    buyer = F.col("frequency") > 0
    scored = features.select(
        "*",
        *[
            F.when(buyer, quintile(F.col(src), cuts[score], reverse=(score == "r_score"))).alias(score)
            for score, src in SCORED.items()
        ],
    ).withColumn(
        "rfm_cell",
        F.when(
            buyer,
            F.concat(F.col("r_score").cast("string"), F.col("f_score").cast("string"), F.col("m_score").cast("string")),
        ),
    )
    scored = scored.withColumn("rfm_segment", rfm_segment(cfg))
    check_tags(scored, cfg.tags)
    tags = [F.when(F.coalesce(F.expr(t.when).cast("boolean"), F.lit(False)), tag_name(t.name)) for t in cfg.tags]
    tag_array = F.array_compact(F.array(*tags)) if tags else F.array().cast("array<string>")
    return scored.select(
        "snapshot_date",
        "customer_id",
        "recency_days",
        "frequency",
        "monetary",
        "avg_order_value",
        "r_score",
        "f_score",
        "m_score",
        "aov_score",
        "rfm_cell",
        "rfm_segment",
        tag_array.alias("tags"),
        "top_category",
        "consent",
    )
