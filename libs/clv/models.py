"""BG/NBD and Gamma-Gamma: maximum-likelihood fits and predictions, in numpy and scipy.

The fits run on the distinct (x, t_x, T) patterns with their counts (and the distinct (x, m) pairs), so
they are exact and bounded by the number of patterns, not of customers. MLlib has neither model; both are
a few closed-form likelihood terms (Fader, Hardie and Lee 2005, "Counting your customers the easy way";
Fader and Hardie 2013, "The Gamma-Gamma model of monetary value"), written here as `lifetimes` writes them.

x is the number of repeat purchase days, t_x the time of the last purchase and T the time of the end of
observation, both counted from the first purchase, in periods (weeks by default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

# A shape fitted past this is the likelihood still rising towards a limit (customers who don't differ in that
# respect), not an estimate: published fits have shapes under 10 (CDNOW: r 0.24, a 0.79, b 2.43; p 6.25, q 3.74).
# The scales (alpha, v) are in periods and money, so any size is theirs.
RUNAWAY_SHAPE = 1e4


@dataclass(frozen=True)
class BgNbd:
    """Purchases while alive are Poisson with a Gamma(r, alpha) rate; after each purchase the customer drops
    out with a Beta(a, b) probability."""

    r: float
    alpha: float
    a: float
    b: float

    def runaway(self) -> tuple[str, ...]:
        """The shapes the fit drove past RUNAWAY_SHAPE: r when customers' purchase rates don't differ, a and b when
        their chances of dropping out don't."""
        return tuple(n for n in ("r", "a", "b") if getattr(self, n) > RUNAWAY_SHAPE)


@dataclass(frozen=True)
class GammaGamma:
    """A customer's order values are Gamma(p, nu) with nu ~ Gamma(q, v) across customers."""

    p: float
    q: float
    v: float

    def runaway(self) -> tuple[str, ...]:
        """The shapes the fit drove past RUNAWAY_SHAPE: p when a customer's orders don't vary around their mean,
        q when customers' means don't differ."""
        return tuple(n for n in ("p", "q") if getattr(self, n) > RUNAWAY_SHAPE)


def bgnbd_log_likelihood(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, weights: np.ndarray
) -> float:
    """The log-likelihood of the patterns, each counted `weights` times."""
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(t_x + alpha)
    tail = np.where(repeat, np.logaddexp(a3, np.where(repeat, a4, -np.inf)), a3)
    return float(np.sum(weights * (a1 + a2 + tail)))


def gamma_gamma_log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray, weights: np.ndarray) -> float:
    """The log-likelihood of mean order values `m` over `x` repeat purchases (x > 0, m > 0)."""
    p, q, v = params
    px = p * x
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )
    return float(np.sum(weights * ll))


def _maximise(
    log_likelihood: Callable[[np.ndarray], float], start: np.ndarray, penalizer: float, n: float
) -> np.ndarray:
    """Parameters maximising `log_likelihood`, searched on their logarithms so they stay positive; the mean
    negative log-likelihood plus `penalizer` x the sum of squared parameters (as lifetimes' penalizer_coef)."""

    def loss(log_params: np.ndarray) -> float:
        params = np.exp(log_params)
        return -log_likelihood(params) / n + penalizer * float(np.sum(params**2))

    first = optimize.minimize(
        loss, np.log(start), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000}
    )
    polished = optimize.minimize(loss, first.x, method="BFGS", options={"gtol": 1e-10})
    best = polished if polished.fun <= first.fun and np.all(np.isfinite(polished.x)) else first
    return np.exp(best.x)


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, weights: np.ndarray, penalizer: float = 0.0) -> BgNbd:
    """The maximum-likelihood BG/NBD parameters of the weighted patterns."""
    x, t_x, big_t, weights = (np.asarray(c, dtype=float) for c in (x, t_x, big_t, weights))
    r, alpha, a, b = _maximise(
        lambda p: bgnbd_log_likelihood(p, x, t_x, big_t, weights),
        np.array([1.0, max(float(np.average(big_t, weights=weights)), 1.0), 1.0, 1.0]),
        penalizer,
        float(weights.sum()),
    )
    return BgNbd(float(r), float(alpha), float(a), float(b))


def fit_gamma_gamma(x: np.ndarray, m: np.ndarray, weights: np.ndarray, penalizer: float = 0.0) -> GammaGamma:
    """The maximum-likelihood Gamma-Gamma parameters of the weighted (x, m) pairs, x > 0 and m > 0."""
    x, m, weights = (np.asarray(c, dtype=float) for c in (x, m, weights))
    p, q, v = _maximise(
        lambda params: gamma_gamma_log_likelihood(params, x, m, weights),
        np.array([1.0, 1.0, max(float(np.average(m, weights=weights)), 1.0)]),
        penalizer,
        float(weights.sum()),
    )
    return GammaGamma(float(p), float(q), float(v))


def expected_purchases(
    model: BgNbd, t: float | np.ndarray, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
) -> np.ndarray:
    """E[purchases in the next t periods | x, t_x, T] (Fader, Hardie and Lee 2005, eq. 10)."""
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    t = np.asarray(t, dtype=float)
    big_a, big_b, big_c = r + x, b + x, a + b + x - 1
    z = t / (alpha + big_t + t)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_hyp = np.log(special.hyp2f1(big_a, big_b, big_c, z))
        # Euler's transformation where the series overflows: the same value, computed from 1 - z.
        ln_alt = np.log(special.hyp2f1(big_c - big_a, big_c - big_b, big_c, z)) + (big_c - big_a - big_b) * np.log1p(-z)
    ln_hyp = np.where(np.isfinite(ln_hyp), ln_hyp, ln_alt)
    first = (a + b + x - 1) / (a - 1)
    second = 1 - np.exp(ln_hyp + (r + x) * np.log((alpha + big_t) / (alpha + t + big_t)))
    return (
        first * second / (1 + (x > 0) * (a / (b + np.maximum(x, 1) - 1)) * ((alpha + big_t) / (alpha + t_x)) ** (r + x))
    )


def p_alive(model: BgNbd, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> np.ndarray:
    """P(still a customer | x, t_x, T); 1 for a customer without repeat purchases."""
    log_odds = (model.r + x) * np.log((model.alpha + big_t) / (model.alpha + t_x)) + np.log(
        model.a / (model.b + np.maximum(x, 1) - 1)
    )
    return np.where(x == 0, 1.0, special.expit(-log_odds))


def expected_order_value(model: GammaGamma, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """E[order value | x repeat purchases of mean value m]: the population mean p·v/(q − 1) shrunk toward m."""
    return model.p * (model.v + x * m) / (model.p * x + model.q - 1)


def discounted_value(
    model: BgNbd,
    order_value: np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    big_t: np.ndarray,
    horizon: float,
    step: float,
    discount_per_step: float,
) -> np.ndarray:
    """Σ over steps of E[purchases in the step] x order value / (1 + d)^i: the value of the next `horizon`
    periods, in steps of `step` periods (the last one may be shorter), discounted at `discount_per_step`."""
    ends = np.append(np.arange(step, horizon, step), horizon)
    total = np.zeros_like(order_value, dtype=float)
    before = np.zeros_like(order_value, dtype=float)
    for end in ends:
        upto = expected_purchases(model, end, x, t_x, big_t)
        total += order_value * (upto - before) / (1 + discount_per_step) ** (end / step)
        before = upto
    return total
