"""Qini curves, the Qini coefficient and uplift@k on held-out contacts.

Contacts are ranked by predicted uplift, highest first, and binned by MLlib's approximate quantiles, so only the
bins reach the driver. For the top k contacts, Q(k) = Y_T(k) − Y_C(k) · N_T(k) / N_C(k): the treated conversions
beyond what the control group's rate predicts. The Qini coefficient is the area between that curve and the line
of random targeting, from (0, 0) to (1, Q(N)), over the fraction of contacts targeted, per treated contact.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from pyspark.ml.feature import QuantileDiscretizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs.uplift.model import UPLIFT, is_treated

CURVE = "variant string, point int, fraction double, qini double, random double"


@dataclass(frozen=True)
class Bin:
    treated: int
    control: int
    treated_conversions: int
    control_conversions: int


def bins(scored: DataFrame, n_bins: int, converted: str = "converted", relative_error: float = 0.001) -> list[Bin]:
    """Contacts per uplift bin, highest uplift first (at most `n_bins` rows, fewer where uplifts tie)."""
    binned = (
        QuantileDiscretizer(numBuckets=n_bins, inputCol=UPLIFT, outputCol="_bin", relativeError=relative_error)
        .fit(scored)
        .transform(scored)
    )
    y = F.col(converted).cast("int")
    rows = (
        binned.groupBy("_bin")
        .agg(
            F.sum(is_treated().cast("int")).alias("t"),
            F.sum((~is_treated()).cast("int")).alias("c"),
            F.sum(F.when(is_treated(), y).otherwise(0)).alias("yt"),
            F.sum(F.when(~is_treated(), y).otherwise(0)).alias("yc"),
        )
        .orderBy(F.desc("_bin"))
        .collect()
    )  # at most n_bins rows
    return [Bin(r.t, r.c, r.yt, r.yc) for r in rows]


def curve(found: list[Bin]) -> list[tuple[float, float]]:
    """(fraction of contacts targeted, Q) from (0, 0) through each bin."""
    total = sum(b.treated + b.control for b in found)
    points, nt, nc, yt, yc = [(0.0, 0.0)], 0, 0, 0, 0
    for b in found:
        nt, nc, yt, yc = nt + b.treated, nc + b.control, yt + b.treated_conversions, yc + b.control_conversions
        points.append(((nt + nc) / total, yt - (yc * nt / nc if nc else 0.0)))
    return points


def qini_coefficient(points: list[tuple[float, float]], treated: int) -> float:
    """The area between the Qini curve and random targeting (trapezoids), per treated contact."""
    final = points[-1][1]
    area = sum(
        (x1 - x0) * ((y0 - x0 * final) + (y1 - x1 * final)) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(points)
    )
    return area / treated if treated else 0.0


def uplift_at(found: list[Bin], fraction: float) -> float:
    """Treated minus control conversion rate among the top `fraction` of contacts (whole bins, at least one)."""
    total = sum(b.treated + b.control for b in found)
    nt = nc = yt = yc = 0
    for b in found:
        nt, nc, yt, yc = nt + b.treated, nc + b.control, yt + b.treated_conversions, yc + b.control_conversions
        if nt + nc >= fraction * total:
            break
    return (yt / nt if nt else 0.0) - (yc / nc if nc else 0.0)
