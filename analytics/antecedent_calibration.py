"""A site's cumulative antecedent-rainfall threshold from its rain record and landslides.

The threshold is the detector's (``AntecedentThreshold``): P_short + w P_long >= a, the
3-day rain up to the reading and the 15-day rain before it (Chleborad 2000; Godt et al.
2006). Fitted as the line P_short = a - w P_long below which a fraction p of the
landslides lie (the same non-exceedance probability as the E-D curve): a linear
quantile regression (Koenker & Bassett 1978, Econometrica 46: 33-50) solved as a linear
programme (``scipy.optimize.linprog``), w held to 0..10 (a wetter fortnight never
raises the rain needed). Only landslides that fell during a rain event count, as for
the E-D curve, since the detector lets the threshold speak only while an event runs.
Pure (arrays in, records out).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import optimize

from siaga.analytics.detectors.landslide import antecedent_ratio
from siaga.analytics.errors import CalibrationError
from siaga.analytics.rain_calibration import Events, slide_rows
from siaga.analytics.rain_record import Landslide, RainRecord
from siaga.analytics.rainfall_thresholds import AntecedentThreshold
from siaga.analytics.windows import window_sums

MAX_WEIGHT = 10.0  # the config's bound on long_weight
MIN_SHORT_MM = 0.1


def antecedent_sums(rec: RainRecord, short_days: float = 3.0,
                    long_days: float = 15.0) -> tuple[np.ndarray, np.ndarray]:
    """Per interval: the rain of the last ``short_days`` and of the ``long_days`` before,
    as the detector sums them (windows (t - W, t])."""
    short = window_sums(rec.end, rec.mm, short_days * 86400.0)
    total = window_sums(rec.end, rec.mm, (short_days + long_days) * 86400.0)
    return short, total - short


def fit_antecedent(p_short: np.ndarray, p_long: np.ndarray,
                   probability: float) -> AntecedentThreshold:
    """The quantile-regression line for landslides' (P_long, P_short) at ``probability``."""
    n = len(p_short)
    if n < 5:
        raise CalibrationError(f"only {n} landslides fell during a rain event; at least 5 "
                               "are needed to fit a cumulative threshold")
    # Variables: a, c (= -w), u+ (n), u- (n); P_short_j = a + c P_long_j + u+_j - u-_j.
    cost = np.r_[0.0, 0.0, np.full(n, probability), np.full(n, 1.0 - probability)]
    eq = np.hstack([np.ones((n, 1)), p_long[:, None], np.eye(n), -np.eye(n)])
    bounds = [(MIN_SHORT_MM, None), (-MAX_WEIGHT, 0.0)] + [(0.0, None)] * (2 * n)
    res = optimize.linprog(cost, A_eq=eq, b_eq=p_short, bounds=bounds, method="highs")
    if not res.success:
        raise CalibrationError(f"the cumulative threshold could not be fitted: {res.message}")
    return AntecedentThreshold(float(res.x[0]), float(-res.x[1]),
                               source=f"calibrate-rain: quantile line at p = {probability:g}")


def at_landslides(rec: RainRecord, ev: Events, slides: Sequence[Landslide],
                  sums: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(P_short, P_long) at each landslide that fell during a rain event: what
    ``fit_antecedent`` fits, the same for every probability."""
    rows = slide_rows(rec, ev, slides)
    return sums[0][rows], sums[1][rows]


def above_antecedent(ev: Events, sums: tuple[np.ndarray, np.ndarray],
                     ante: AntecedentThreshold) -> np.ndarray:
    """Per interval: a rain event runs and the threshold is reached, as the detector's
    ``antecedent_ratio >= 1`` says."""
    out: np.ndarray = (ev.event >= 0) & (antecedent_ratio(sums[0], sums[1], ante) >= 1.0)
    return out
