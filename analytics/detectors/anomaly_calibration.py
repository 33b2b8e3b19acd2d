"""The anomaly score's statistics mapped to probabilities, and its constants.

Each test of ``anomaly`` (spike, shift with its spread CUSUM, level) gives a p; these are
the tails and limits that turn its statistic into one, the Sidak combination into a
score, and the score's clearing point. See ``analytics/detectors/anomaly.py`` and
docs/detectors.md.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from siaga.analytics.config import AnomalyConfig
from siaga.analytics.daily_profile import DAY_S
from siaga.analytics.hysteresis import FloatArray
from siaga.analytics.tail_probability import normal_isf, student_t_quartile, student_t_sf_of

MAD_SIGMA = 1.4826  # MAD of a normal distribution is 0.6745 sigma
MEAN_ABS_SIGMA = 1.2533  # mean |x| of a normal distribution is 0.7979 sigma
SIEGMUND = 0.583  # overshoot correction of a CUSUM boundary (Siegmund 1985)
CLIP_RESIDUAL = 4.0  # in local sigmas, when learning the long-run spread
CLIP_SCORE = 8.0  # normal scores beyond this carry no more information
LEVEL_AFTER_S = 2 * DAY_S  # the level test waits for the daily profile
TESTS = ("spike", "shift", "level")


def shift_tail(s: FloatArray, k: float) -> FloatArray:
    """P(S >= s) of a two-sided CUSUM with reference k on N(0, 1) increments."""
    return np.minimum(1.0, 2.0 * np.exp(-2.0 * k * (s + SIEGMUND)))


# The spread CUSUM's reference: the log-likelihood ratio of N(0, rho^2) against N(0, 1)
# is proportional to y^2 - 2 rho^2 ln(rho) / (rho^2 - 1); rho = 2, a doubled noise.
SPREAD_RHO = 2.0
SPREAD_K = 2.0 * SPREAD_RHO**2 * math.log(SPREAD_RHO) / (SPREAD_RHO**2 - 1.0)
# theta (y^2 - k) is then exactly that log-likelihood ratio, so E exp(theta (Y^2 - k)) = 1
# under N(0, 1) (Wald's identity) and Kingman's (1964) bound P(S >= s) <= exp(-theta s)
# holds for the CUSUM S: theta = (1 - rho^-2) / 2 = 0.375.
SPREAD_THETA = (1.0 - SPREAD_RHO**-2) / 2.0


def spread_tail(s: FloatArray) -> FloatArray:
    """P(S >= s) <= exp(-theta s) for the spread CUSUM (Kingman 1964)."""
    return np.exp(-SPREAD_THETA * s)


def spread_limit(cfg: AnomalyConfig) -> float:
    return math.log(2.0 / _test_p(cfg)) / SPREAD_THETA


def _test_p(cfg: AnomalyConfig) -> float:
    """The p of one test that alone brings the combined score to the threshold."""
    return -math.expm1(math.log(cfg.threshold) / len(TESTS))


def cusum_limit(cfg: AnomalyConfig) -> float:
    return math.log(4.0 / _test_p(cfg)) / (2.0 * cfg.cusum_k) - SIEGMUND


def level_limit(cfg: AnomalyConfig) -> float:
    return normal_isf(_test_p(cfg) / 2.0)


def clear_below(cfg: AnomalyConfig) -> float:
    """A flag clears when the score falls below this: ten times less rare than the flag."""
    return 1.0 - 10.0 * (1.0 - cfg.threshold)


def score_of(p: FloatArray) -> FloatArray:
    """1 - the Sidak-corrected p of the best of the tests."""
    with np.errstate(divide="ignore"):
        return np.where(p < 1.0, np.exp(len(TESTS) * np.log1p(-p)), 0.0)


def t_units(cfg: AnomalyConfig) -> float:
    """Residuals over the normal-consistent sigma, times this, are in the t law's units.

    sigma is 1.4826 x MAD (or more), the scale of a *normal* law with that MAD; a t law
    with ``tail_df`` degrees of freedom and the same MAD has the smaller scale
    MAD / q, q its upper quartile (0.765 for 3 dof against the normal's 0.674). Reading
    r / sigma directly against the t tail measured the residual in a unit 13 % too large
    and made the test more cautious than the model it claims: an 8 sigma spike in
    Gaussian noise scored 0.988. The same factor divides the long-run spread (1.2533 x
    mean |r|), which is conservative there: its exact one, E|T| = 1.103 for 3 dof over
    the normal's 0.798, is larger (with it, the issue's replay series put up to 8 quiet
    rows at >= 0.9 against 5 allowed). Only the spike test's tail uses these units; the
    CUSUMs keep their normal scores of r / sigma, whose tails were checked on those.
    """
    return student_t_quartile(cfg.tail_df) / normal_isf(0.25)


def inflation(count: int, full: bool) -> float:
    # The median of n values has variance pi/2 sigma^2 / n; the carried slope adds about
    # half as much again.
    return math.sqrt(1.0 + math.pi / (2.0 * count) * (1.5 if full else 1.0))


# How far above the p at which the score reaches clear_below a test's p must be for its
# statistic to count as quiet: a margin of 1 % of p, far above the few ulps the tails
# and the score are computed to.
QUIET_MARGIN = 1.01


@lru_cache(maxsize=8)
def quiet_limits(cfg: AnomalyConfig) -> tuple[float, float, float, float]:
    """Limits on the spike statistic |zt|, the CUSUM S, the spread CUSUM and the level
    statistic |zl| below which the score is surely below ``clear_below``.

    The score (1 - p)^3 reaches clear_below only when p <= p_c = 1 - clear^(1/3); p is the
    smallest of the spike test's 2 P(T >= |zt|), the shift test's min(1, 2 min(p_mean,
    p_spread)) and the level test's 2 P(Z >= |zl|), each falling as its statistic grows.
    Below these limits each is at least QUIET_MARGIN x p_c (p_mean and p_spread half of
    it), so the streaming detector knows its level without the tails (issue 17) and
    works p out only when it is read. -inf (never quiet) where every score holds a flag.
    """
    clear = clear_below(cfg)
    never = (-math.inf,) * 4
    # Within ~1e-12 of 1 the 1 % margin on p is below the ulps of the score near clear
    # (a threshold a few ulps under 1 gave a score at or above clear from statistics
    # just under the limits): no reading is quiet there.
    if clear <= 0.0 or 1.0 - clear < 1e-12:
        return never
    p0 = QUIET_MARGIN * (1.0 - clear ** (1.0 / len(TESTS)))
    if p0 >= 1.0:
        return never
    t_sf = student_t_sf_of(cfg.tail_df)
    lo, hi = 0.0, 1.0
    while 2.0 * t_sf(hi) >= p0:
        lo, hi = hi, 2.0 * hi
    for _ in range(100):  # the largest t found with 2 P(T >= t) >= p0
        mid = 0.5 * (lo + hi)
        if 2.0 * t_sf(mid) >= p0:
            lo = mid
        else:
            hi = mid
    cus = math.log(4.0 / p0) / (2.0 * cfg.cusum_k) - SIEGMUND  # p_mean >= p0 / 2
    spread = math.log(2.0 / p0) / SPREAD_THETA  # p_spread >= p0 / 2
    return lo, cus, spread, normal_isf(p0 / 2.0)
