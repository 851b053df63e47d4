"""Fitting the CLV models on a summary's patterns, scoring every customer, and the hold-out calibration."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pmkt.libs.clv import models, summary
from pmkt.libs.config import ClvConfig
from pmkt.libs.errors import MissingInput, UserError
from pmkt.libs.log import get_logger

log = get_logger(__name__)
PURCHASE_SCORES = "expected_purchases double, p_alive double"
SCORES = f"{PURCHASE_SCORES}, expected_order_value double, clv double"


@dataclass(frozen=True)
class Fitted:
    purchases: models.BgNbd
    value: models.GammaGamma | None  # None without order values: purchases and P(alive) only
    patterns: int  # distinct (x, t_x, T) patterns the BG/NBD fit summed over
    customers: int

    def __str__(self) -> str:
        bg, gg = self.purchases, self.value
        fitted = f"BG/NBD r {bg.r:.4g}, alpha {bg.alpha:.4g}, a {bg.a:.4g}, b {bg.b:.4g}"
        return fitted + (f"; Gamma-Gamma p {gg.p:.4g}, q {gg.q:.4g}, v {gg.v:.4g}" if gg else "; no order values")

    def runaway(self) -> list[str]:
        """What each shape the fit ran off to a limit (`models.RUNAWAY_SHAPE`) means for the scores: the data shows
        no difference between customers in that respect, and the model treats them alike. Empty for a fit the data
        bounds."""
        bg, gg, lines = self.purchases, self.value, []
        ran = bg.runaway()
        if "a" in ran or "b" in ran:
            lines.append(
                f"BG/NBD a {bg.a:.3g}, b {bg.b:.3g}: customers don't differ in how likely they are to stop buying, so "
                f"each has the same chance, a / (a + b) = {bg.a / (bg.a + bg.b):.3f}, of dropping out after a purchase"
            )
        if "r" in ran:
            lines.append(
                f"BG/NBD r {bg.r:.3g}: customers don't differ in how often they buy, so each buys "
                f"r / alpha = {bg.r / bg.alpha:.3g} times a period (clv.period_days) while active"
            )
        if gg is not None and gg.runaway():
            names = " and ".join(f"{n} {getattr(gg, n):.3g}" for n in gg.runaway())
            # A customer's expected order value weighs their own mean by p x / (p x + q - 1): q decides unless p is
            # larger still.
            lines.append(
                f"Gamma-Gamma {names}: customers don't differ in what they typically spend, so each one's expected "
                f"order value is the population's, p v / (q - 1) = {gg.p * gg.v / (gg.q - 1):.4g}"
                if gg.p < gg.q
                else f"Gamma-Gamma {names}: a customer's orders don't vary around their own mean, so each one's "
                "expected order value is that mean"
            )
        return [f"{line} (the fit's limit, not an estimate)" for line in lines]


def fit(summaries: DataFrame, cfg: ClvConfig) -> Fitted:
    """Both models by maximum likelihood on the distinct patterns (collected: bounded by `clv.max_patterns`;
    beyond it, recency and age are rounded to whole periods, and mean values to 0.5% steps, first)."""
    rows = _bounded(
        summary.patterns(summaries),
        lambda: summary.patterns(summary.coarsened(summaries)),
        cfg.max_patterns,
        "distinct purchase patterns: fitting on whole periods",
    )
    if rows.empty or rows["customers"].sum() < 2:
        raise MissingInput("CLV needs purchases from at least two customers before the cutoff")
    values = _bounded(
        summary.value_patterns(summaries),
        lambda: summary.value_patterns(summaries, resolution=0.005),
        cfg.max_patterns,
        "distinct (repeat purchases, mean value) pairs: rounding values to 0.5%",
    )
    if not (rows["frequency"] > 0).any():
        raise MissingInput("CLV needs customers with repeat purchases before the cutoff")
    purchases = models.fit_bgnbd(rows["frequency"], rows["recency"], rows["age"], rows["customers"], cfg.penalizer)
    value = None
    if not values.empty:  # else BG/NBD alone: no repeat purchase has a positive amount
        value = models.fit_gamma_gamma(values["frequency"], values["monetary"], values["customers"], cfg.penalizer)
        if value.q <= 1:
            raise UserError(
                f"Gamma-Gamma fit has q = {value.q:.3f} <= 1: order values have no finite mean; check amounts"
            )
    return Fitted(purchases, value, len(rows), int(rows["customers"].sum()))


def _bounded(exact: DataFrame, rounded: Callable[[], DataFrame], limit: int, what: str) -> pd.DataFrame:
    """`exact` on the driver if it has at most `limit` rows (one pass, never more than limit + 1 rows), else
    `rounded`, whose rows are bounded by the data's time span and value range, not by its customers."""
    rows: pd.DataFrame = exact.limit(limit + 1).toPandas()  # bounded: at most limit + 1 rows
    if len(rows) <= limit:
        return rows
    log.warning("more than %s %s", f"{limit:,}", what)
    return rounded().toPandas()  # bounded: rounded patterns


def score(summaries: DataFrame, fitted: Fitted, cfg: ClvConfig) -> DataFrame:
    """The summaries with expected purchases over `clv.horizon_days`, P(alive), expected order value and the
    discounted CLV (margin x value of the expected purchases, stepped every `clv.step_days`).

    In pandas on the executors: scipy's Gauss hypergeometric function has no Spark expression.
    """
    horizon, step = cfg.horizon_days / cfg.period_days, cfg.step_days / cfg.period_days
    per_step = (1 + cfg.annual_discount_rate) ** (cfg.step_days / 365.0) - 1

    def predict(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for b in batches:
            x, t_x, big_t = (b[c].to_numpy(dtype=float) for c in ("frequency", "recency", "age"))
            out = {
                "customer_id": b["customer_id"],
                "expected_purchases": models.expected_purchases(fitted.purchases, horizon, x, t_x, big_t),
                "p_alive": models.p_alive(fitted.purchases, x, t_x, big_t),
            }
            if fitted.value is not None:
                value = models.expected_order_value(fitted.value, x, b["monetary"].to_numpy(dtype=float))
                out["expected_order_value"] = value
                out["clv"] = cfg.margin * models.discounted_value(
                    fitted.purchases, value, x, t_x, big_t, horizon, step, per_step
                )
            yield pd.DataFrame(out)

    with_value = fitted.value is not None
    scored = summaries.select("customer_id", "frequency", "recency", "age", "monetary").mapInPandas(
        predict, schema=f"customer_id string, {SCORES if with_value else PURCHASE_SCORES}"
    )
    if not with_value:  # null, not NaN: there is no value to predict
        scored = scored.select("*", *[F.lit(None).cast("double").alias(c) for c in ("expected_order_value", "clv")])
    return summaries.join(scored, on="customer_id", how="inner")


def calibration(
    summaries: DataFrame, fitted: Fitted, actual: DataFrame, days: int, cfg: ClvConfig, end: dt.date
) -> DataFrame:
    """Per calibration frequency (0 … buckets − 1, then "<buckets>+"): customers, predicted and actual mean
    repeat purchase days in the `days` after the calibration, which ended on `end`."""
    t = days / cfg.period_days

    def predict(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for b in batches:
            x, t_x, big_t = (b[c].to_numpy(dtype=float) for c in ("frequency", "recency", "age"))
            yield pd.DataFrame(
                {
                    "customer_id": b["customer_id"],
                    "predicted": models.expected_purchases(fitted.purchases, t, x, t_x, big_t),
                }
            )

    predicted = summaries.select("customer_id", "frequency", "recency", "age").mapInPandas(
        predict, schema="customer_id string, predicted double"
    )
    top = cfg.frequency_buckets
    bucket = F.when(F.col("frequency") >= top, F.lit(f"{top}+")).otherwise(F.col("frequency").cast("string"))
    return (
        summaries.select("customer_id", "frequency")
        .join(predicted, on="customer_id", how="inner")
        .join(actual, on="customer_id", how="left")
        .groupBy(bucket.alias("frequency_bucket"), F.least(F.col("frequency"), F.lit(top)).alias("_order"))
        .agg(
            F.count(F.lit(1)).alias("customers"),
            F.avg("predicted").alias("predicted"),
            F.avg(F.coalesce(F.col("actual"), F.lit(0))).cast("double").alias("actual"),
        )
        .select(F.lit(end).alias("calibration_end"), "frequency_bucket", "customers", "predicted", "actual", "_order")
    )
