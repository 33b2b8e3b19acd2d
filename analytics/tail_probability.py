"""Upper-tail probabilities for the streaming anomaly score, without scipy on import.

Why hand-written: importing ``scipy.special`` for three functions cost the gateway
17.5 MB of resident memory and 150 modules (peak RSS after importing the run path and
building one engine: 73.9 MB with it, 56.4 MB without; ``siaga.gateway.cli`` alone
66.7 -> 49.2 MB; ``resource.getrusage``, issue 11). The normal
tail and its inverse come from the standard library (``math.erfc``; ``statistics
.NormalDist.inv_cdf``, Wichura's AS241, accurate to ~1e-16); the Student-t tail with
3 degrees of freedom, the spike test's default, has a closed form:

    P(T >= t) = (phi - sin(phi) cos(phi)) / pi = (x - sin x) / (2 pi),
    phi = arctan(sqrt(3) / t),  x = 2 phi,  for t >= 0

(the odd-degrees series of Abramowitz & Stegun 1964, eq. 26.7.3, A(t|3) =
(2/pi)(theta + sin theta cos theta), theta = arctan(t / sqrt 3), written for the upper
tail: 1 - A = 2 P(T >= t) and pi/2 - theta = phi). For x < 1 (t > 3.17) ``x - sin x``
cancels, so its Taylor series x^3/3! - x^5/5! + ... is summed instead (eight terms:
the first left out is below 1e-16 of the sum). Other degrees of freedom use
``scipy.special.stdtr``, imported when first asked for. ``tests/unit/analytics/
test_tail_probability.py`` compares these with ``scipy.stats`` from 0 to 1e100.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from functools import lru_cache, partial

import numpy as np

from siaga.analytics.hysteresis import FloatArray

_SQRT3 = math.sqrt(3.0)
_SQRT1_2 = math.sqrt(0.5)
_STANDARD_NORMAL = statistics.NormalDist()
# (-1)^k / (2k + 3)!, k = 0..7: x - sin x = x^3 * sum_k c_k x^(2k)
_X_MINUS_SIN = tuple((-1) ** k / math.factorial(2 * k + 3) for k in range(8))
SERIES_BELOW = 1.0  # x = 2 phi under which the series replaces x - sin x
_HORNER = tuple(reversed(_X_MINUS_SIN))
_TWO_PI = 2.0 * math.pi


def t3_sf(t: float) -> float:
    """P(T >= t) for Student's t with 3 degrees of freedom."""
    if t < 0.0:
        return 1.0 - t3_sf(-t)
    x = 2.0 * math.atan2(_SQRT3, t)
    if x >= SERIES_BELOW:
        return (x - math.sin(x)) / _TWO_PI
    x2 = x * x
    acc = 0.0
    for c in _HORNER:
        acc = acc * x2 + c
    return x * x2 * acc / _TWO_PI


def t3_sf_array(t: FloatArray) -> FloatArray:
    """``t3_sf`` of every element of an array of values >= 0."""
    x = 2.0 * np.arctan2(_SQRT3, t)
    x2 = x * x
    acc = np.zeros_like(x)
    for c in reversed(_X_MINUS_SIN):
        acc = acc * x2 + c
    return np.where(x >= SERIES_BELOW, x - np.sin(x), x * x2 * acc) / (2.0 * math.pi)


def student_t_sf(df: float, t: float) -> float:
    """P(T >= t) for t >= 0; the closed form for 3 degrees of freedom, else scipy."""
    if df == 3.0:
        return t3_sf(t)
    from scipy.special import stdtr  # only a config with another tail_df pays for it

    return float(stdtr(df, -t))


def student_t_sf_of(df: float) -> Callable[[float], float]:
    """``student_t_sf`` with ``df`` bound: ``t3_sf`` itself for 3 degrees of freedom."""
    return t3_sf if df == 3.0 else partial(student_t_sf, df)


def student_t_sf_array(df: float, t: FloatArray) -> FloatArray:
    """``student_t_sf`` of every element of an array of values >= 0."""
    if df == 3.0:
        return t3_sf_array(t)
    from scipy.special import stdtr

    return np.asarray(stdtr(df, -t), dtype=np.float64)


@lru_cache(maxsize=8)
def student_t_quartile(df: float) -> float:
    """The upper quartile of Student's t (its median absolute value), by bisection.

    Kept per ``df`` (a config has one or two): the bisection costs ~30 us, and every new
    anomaly detector (one per node and channel) and every batch call asks for it."""
    lo, hi = 0.0, 1.0
    while student_t_sf(df, hi) > 0.25:
        hi *= 2.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if student_t_sf(df, mid) > 0.25:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def normal_sf(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z * _SQRT1_2)


def normal_isf(p: float) -> float:
    """The z with P(Z >= z) = p, for 0 < p < 1 (else ``statistics.StatisticsError``).

    ``-normal_quantile(p, 0.0, 1.0)`` gives the same bits without the range check, for
    callers that keep p in range themselves on a per-reading path."""
    return -_STANDARD_NORMAL.inv_cdf(p)


def _checked_quantile(p: float, mu: float, sigma: float) -> float:
    return statistics.NormalDist(mu, sigma).inv_cdf(p)


# What NormalDist.inv_cdf computes, (p, mu, sigma) -> x, without its range checks and the
# two Python frames around CPython's C function: the streaming anomaly score takes one per
# reading (issue 17: 0.108 -> 0.038 us a call). The caller keeps 0 < p < 1.
normal_quantile: Callable[[float, float, float], float] = getattr(
    statistics, "_normal_dist_inv_cdf", _checked_quantile)
