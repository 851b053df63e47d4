"""CLV against the published CDNOW reference: the summaries and the lifetimes fits shipped with the wheel."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pmkt.libs.clv import models, scoring, summary
from pmkt.libs.config import ClvConfig

# Published fits on cdnow_customers_summary*.csv (Fader, Hardie and Lee 2005; the lifetimes documentation).
BGNBD = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4258}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.45}
CALIBRATION_END = dt.date(1997, 9, 30)  # the summaries' calibration period ends on this day, inclusive


def cdnow_sample(spark: SparkSession, datasets: Path) -> DataFrame:
    """CDNOW_sample.txt as order lines: (customer_id, order_ts, amount); the second column is the summaries' ID."""
    parts = F.split(F.trim(F.col("value")), r"\s+")
    return spark.read.text(str(datasets / "CDNOW_sample.txt")).select(
        parts[1].cast("int").cast("string").alias("customer_id"),
        F.to_timestamp(parts[2], "yyyyMMdd").alias("order_ts"),
        parts[4].cast("double").alias("amount"),
    )


def test_the_spark_summary_reproduces_the_published_cdnow_summaries(
    spark: SparkSession, lifetimes_datasets: Path
) -> None:
    days = summary.purchase_days(cdnow_sample(spark, lifetimes_datasets), CALIBRATION_END + dt.timedelta(days=1))
    ours = summary.summary(days, CALIBRATION_END, 7.0).toPandas()  # the 2,357 customers of the sample
    ours = ours.rename(columns=lambda c: f"our_{c}").assign(ID=ours["customer_id"].astype(int))
    published = pd.read_csv(lifetimes_datasets / "cdnow_customers_summary.csv").merge(
        pd.read_csv(lifetimes_datasets / "cdnow_customers_summary_with_transactions.csv"), on="ID"
    )
    both = published.merge(ours, on="ID", how="outer", indicator=True)
    assert len(published) == 2357 and (both["_merge"] == "both").all()
    assert (both["our_frequency"] == both["frequency"]).all() and (both["our_frequency"] == both["x"]).all()
    # Published with two decimals: recency and T in weeks, zbar the mean value of the repeat purchases.
    for ours_col, theirs in (("our_recency", "recency"), ("our_age", "T_x"), ("our_monetary", "zbar")):
        assert np.abs(both[ours_col] - both[theirs]).max() <= 0.005 + 1e-9, ours_col  # within their rounding


def _published_patterns(datasets: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    rfm = pd.read_csv(datasets / "cdnow_customers_summary.csv")
    patterns = rfm.groupby(["frequency", "recency", "T"]).size().reset_index(name="customers")
    values = pd.read_csv(datasets / "cdnow_customers_summary_with_transactions.csv")
    return patterns, values[values["x"] > 0]


def test_the_fits_on_the_published_summaries_match_the_published_parameters_within_one_percent(
    lifetimes_datasets: Path,
) -> None:
    patterns, values = _published_patterns(lifetimes_datasets)
    assert len(patterns) < 1200  # the fit sums over distinct patterns, not 2,357 customers
    purchases = models.fit_bgnbd(patterns["frequency"], patterns["recency"], patterns["T"], patterns["customers"])
    value = models.fit_gamma_gamma(values["x"], values["zbar"], np.ones(len(values)))
    for name, expected in {**BGNBD, **GAMMA_GAMMA}.items():
        got = getattr(purchases if name in BGNBD else value, name)
        assert got == pytest.approx(expected, rel=0.01), name
    assert (purchases.runaway(), value.runaway()) == ((), ())


def test_a_fit_run_off_to_its_limit_says_what_the_scores_then_assume() -> None:
    # Every order worth 20: customers don't differ in spend, and the likelihood keeps rising with p and q. Repeat
    # purchases evenly spread to the same end: customers don't differ in dropping out, and it rises with a and b.
    # The published CDNOW fit (above) runs off nowhere.
    x, same, ones = np.array([1, 2, 3, 4, 5, 1, 2, 3.0]), np.full(8, 20.0), np.ones(8)
    value = models.fit_gamma_gamma(x, same, ones)
    assert value.runaway() == ("p", "q")
    assert value.p * value.v / (value.q - 1) == pytest.approx(20.0, rel=1e-3)  # the limit: everyone's mean is 20
    repeat, last, end = np.arange(6.0), np.arange(0.0, 60.0, 10.0), np.full(6, 52.0)
    purchases = models.fit_bgnbd(repeat, last, end, np.array([50, 40, 30, 20, 10, 5.0]))
    assert purchases.runaway() == ("a", "b")
    lines = scoring.Fitted(purchases, value, patterns=6, customers=155).runaway()
    dropout = purchases.a / (purchases.a + purchases.b)
    assert lines == [
        f"BG/NBD a {purchases.a:.3g}, b {purchases.b:.3g}: customers don't differ in how likely they are to stop "
        f"buying, so each has the same chance, a / (a + b) = {dropout:.3f}, of dropping out after a purchase "
        "(the fit's limit, not an estimate)",
        f"Gamma-Gamma p {value.p:.3g} and q {value.q:.3g}: customers don't differ in what they typically spend, so "
        "each one's expected order value is the population's, p v / (q - 1) = 20 (the fit's limit, not an estimate)",
    ]
    own = scoring.Fitted(purchases, models.GammaGamma(p=1e6, q=3.0, v=40.0), patterns=6, customers=155).runaway()
    assert own[1] == (
        "Gamma-Gamma p 1e+06: a customer's orders don't vary around their own mean, so each one's expected order "
        "value is that mean (the fit's limit, not an estimate)"
    )
    assert scoring.Fitted(models.BgNbd(**BGNBD), models.GammaGamma(**GAMMA_GAMMA), 1, 2).runaway() == []


def test_predictions_equal_their_closed_forms_on_one_customer() -> None:
    """P(alive), E[X(t)] with the hypergeometric series summed term by term, E[M] and the discounted value."""
    fit = models.BgNbd(r=0.2426, alpha=4.4135, a=0.7929, b=2.4258)
    x, t_x, big_t, t = 2.0, 30.43, 38.86, 39.0
    r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b
    odds = a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    assert models.p_alive(fit, np.array([x]), np.array([t_x]), np.array([big_t]))[0] == pytest.approx(1 / (1 + odds))
    assert models.p_alive(fit, np.array([0.0]), np.array([0.0]), np.array([big_t]))[0] == 1.0

    z, term, series = t / (alpha + big_t + t), 1.0, 0.0
    for n in range(2000):  # 2F1(r + x, b + x; a + b + x - 1; z) as its power series
        series += term
        term *= (r + x + n) * (b + x + n) / ((a + b + x - 1 + n) * (n + 1)) * z
    expected = (
        (a + b + x - 1) / (a - 1) * (1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * series) / (1 + odds)
    )
    got = models.expected_purchases(fit, t, np.array([x]), np.array([t_x]), np.array([big_t]))[0]
    assert got == pytest.approx(expected, rel=1e-9)

    value = models.GammaGamma(p=6.25, q=3.74, v=15.45)
    assert models.expected_order_value(value, np.array([2.0]), np.array([22.35]))[0] == pytest.approx(
        6.25 * (15.45 + 2 * 22.35) / (6.25 * 2 + 3.74 - 1)
    )
    # Undiscounted, the steps add up to the whole horizon's purchases; discounted, each step counts less.
    args = (np.array([40.0]), np.array([x]), np.array([t_x]), np.array([big_t]), 52.0, 4.0)
    assert models.discounted_value(fit, *args, 0.0)[0] == pytest.approx(
        40 * models.expected_purchases(fit, 52.0, np.array([x]), np.array([t_x]), np.array([big_t]))[0]
    )
    steps = np.diff(models.expected_purchases(fit, np.arange(0, 53, 4.0), x, t_x, big_t))
    assert models.discounted_value(fit, *args, 0.01)[0] == pytest.approx(
        sum(40 * s / 1.01 ** (i + 1) for i, s in enumerate(steps))
    )
    assert math.isfinite(got)


def test_beyond_max_patterns_the_fit_runs_on_rounded_patterns_and_stays_close(
    spark: SparkSession, lifetimes_datasets: Path
) -> None:
    """Whole weeks and 0.5% value steps: the collected patterns are bounded, and the fit stays close (moves of at
    most 2% measured; 3% asserted)."""
    days = summary.purchase_days(cdnow_sample(spark, lifetimes_datasets), CALIBRATION_END + dt.timedelta(days=1))
    summaries = summary.summary(days, CALIBRATION_END, 7.0)
    fitted = scoring.fit(summaries, ClvConfig(max_patterns=300))
    assert fitted.patterns <= summary.patterns(summary.coarsened(summaries)).count() < 1016
    for name, expected in {**BGNBD, **GAMMA_GAMMA}.items():
        got = getattr(fitted.purchases if name in BGNBD else fitted.value, name)
        assert got == pytest.approx(expected, rel=0.03), name
