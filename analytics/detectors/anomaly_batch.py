"""The anomaly score's batch form: ``anomaly_p`` gives, for a whole series at once, the p
that ``AnomalyDetector.update`` (``anomaly.py``, where the score is described) gives
reading by reading, for replays, evaluations and ``AnomalyDetector.batch``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from siaga.analytics.config import AnomalyConfig
from siaga.analytics.daily_profile import deseasonalise
from siaga.analytics.detectors.anomaly_calibration import (
    CLIP_RESIDUAL,
    CLIP_SCORE,
    LEVEL_AFTER_S,
    MAD_SIGMA,
    MEAN_ABS_SIGMA,
    SPREAD_K,
    cusum_limit,
    level_limit,
    shift_tail,
    spread_limit,
    spread_tail,
    t_units,
)
from siaga.analytics.first_order_filter import first_order
from siaga.analytics.hysteresis import FloatArray
from siaga.analytics.rolling_median import median_of_sorted, rolling_median_mad, sorted_mad
from siaga.analytics.tail_probability import student_t_sf_array

__all__ = ["anomaly_p"]


def anomaly_p(cfg: AnomalyConfig, ts: FloatArray, v: FloatArray) -> FloatArray:
    """Batch twin of ``AnomalyDetector.update``: the combined p of every reading.

    Readings near the float range (|x| > 1e150) overflow the squares; their p is then
    undefined and given as 1 (no evidence), as the streaming form's comparisons do.
    """
    with np.errstate(all="ignore"):
        p = _anomaly_p(cfg, ts, v)
    return np.where(np.isnan(p), 1.0, p)


def _anomaly_p(cfg: AnomalyConfig, ts: FloatArray, v: FloatArray) -> FloatArray:
    # The batch form runs in replays and evaluations, never in the gateway: scipy's
    # vectorised normal tails are worth their import there (tail_probability says why
    # the streaming form does without).
    from scipy.special import ndtr, ndtri

    n, h, first = len(v), cfg.window // 3, max(cfg.warmup, 1)
    p = np.ones(n)
    if n <= first:
        return p
    u = deseasonalise(cfg, ts, v)
    # Median and MAD of the h values before every reading (fewer before the h-th).
    med = np.zeros(n)
    mad = np.zeros(n)
    for i in range(1, min(h, n)):
        med[i] = median_of_sorted(sorted(u[:i].tolist()))
        mad[i] = sorted_mad(sorted(u[:i].tolist()), med[i])
    if n > h:
        rolling_median_mad(sliding_window_view(u, h)[:-1], med[h:], mad[h:])
    idx = np.arange(first, n)
    ref, local, infl = _reference(med, mad, idx, h)
    steps = np.abs(np.diff(v))
    steps[steps == 0.0] = np.inf
    q = np.r_[np.inf, np.minimum.accumulate(steps)][first - 1:n - 1]
    q = np.where(np.isinf(q), 0.0, q)
    r = u[first:] - ref
    clipped = np.minimum(np.abs(r), CLIP_RESIDUAL * np.maximum(local, q))
    spread_before = np.r_[0.0, _plain_then_ew(clipped, cfg.long_alpha)[:-1]]
    sigma = np.maximum(np.maximum(local, MEAN_ABS_SIGMA * spread_before), q)
    ok = sigma > 0.0
    z = r[ok] / (sigma[ok] * infl[ok])
    half = student_t_sf_array(cfg.tail_df, np.abs(z))
    scale = np.maximum(np.maximum(local * infl, MEAN_ABS_SIGMA * spread_before)
                       / t_units(cfg), q)
    spike = 2.0 * student_t_sf_array(cfg.tail_df, np.abs(r[ok] / scale[ok]))
    with np.errstate(divide="ignore"):
        y = np.where(half > 0.0, np.minimum(CLIP_SCORE, -ndtri(half)), CLIP_SCORE)
    y = np.where(z >= 0, y, -y)
    level_on = (ts[first:] - ts[0] >= LEVEL_AFTER_S)[ok]
    floor = np.maximum(sigma[ok] * math.sqrt(math.pi / h * 1.5 + cfg.long_alpha), q[ok])
    cus, zl, sv = _sequential(y, u[first:][ok], ref[ok], floor, level_on, cfg)
    level_p = np.where(level_on, 2.0 * ndtr(-np.abs(zl)), 1.0)
    shift_p = np.minimum(1.0, 2.0 * np.minimum(shift_tail(cus, cfg.cusum_k),
                                               spread_tail(sv)))
    p[first:][ok] = np.minimum(np.minimum(spike, shift_p), level_p)
    return p


def _reference(med: FloatArray, mad: FloatArray, idx: np.ndarray,
               h: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Expected value, local sigma and prediction inflation at readings ``idx``.

    ``med[i]``/``mad[i]`` describe the h values before reading i; the two thirds before
    them are ``med[i - h]`` and ``med[i - 2h]`` (from reading 3h on).
    """
    m3, a3 = med[idx], mad[idx]
    full = idx >= 3 * h
    i2 = np.where(full, idx - h, idx)
    i1 = np.where(full, idx - 2 * h, idx)
    s23 = (m3 - med[i2]) / h
    s12 = (med[i2] - med[i1]) / h
    slope = np.where(s23 * s12 > 0, np.sign(s23) * np.minimum(np.abs(s23), np.abs(s12)), 0.0)
    ref = m3 + slope * ((h + 1) / 2)
    a2, a1 = mad[i2], mad[i1]  # equal to a3 before 3h: their median is a3 then
    spread = np.maximum(np.minimum(a3, a2), np.minimum(np.maximum(a3, a2), a1))
    count = np.minimum(idx, h).astype(np.float64)
    infl = np.sqrt(1.0 + np.pi / (2.0 * count) * np.where(full, 1.5, 1.0))
    return ref, MAD_SIGMA * spread, infl


def _plain_then_ew(x: FloatArray, alpha: float) -> FloatArray:
    """Running mean (weights 1/(n+1)) for the first 1/alpha values, then exponential."""
    exact = max(1, round(1.0 / alpha))
    out = np.empty(len(x))
    m = 0.0
    for i, xi in enumerate(x[:exact].tolist()):
        w = 1.0 / (i + 1)
        m = w * xi + (1.0 - w) * m
        out[i] = m
    if len(x) > exact:
        out[exact:] = first_order(alpha, 1.0 - alpha, x[exact:], m)
    return out


def _sequential(y: FloatArray, u: FloatArray, ref: FloatArray, floor: FloatArray,
                level_on: np.ndarray, cfg: AnomalyConfig
                ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """CUSUM statistic and level z of every value, both restarting after a signal.

    Between signals the CUSUM is the Lindley form S = C - min(0, min C) over the running
    sums since the restart, and M an exponential mean from the expected value at the
    restart. Chunks carry the state on (the same sequential sums as the streaming form)
    and grow while no signal comes, so a quiet series costs about one pass.
    """
    k, a = cfg.cusum_k, cfg.long_alpha
    limit, z_limit = cusum_limit(cfg), level_limit(cfg)
    n = len(y)
    cus = np.empty(n)
    sca = np.empty(n)
    zl = np.zeros(n)
    s, chunk = 0, 256
    cp = cn = lp = ln = cv = lv = 0.0
    v_limit = spread_limit(cfg)
    y2 = y * y - SPREAD_K
    mean = float(u[0]) if n else 0.0
    var = float(floor[0]) * float(floor[0]) if n else 0.0
    while s < n:
        e = min(n, s + chunk)
        c_p = np.cumsum(np.r_[cp, y[s:e] - k])[1:]
        c_n = np.cumsum(np.r_[cn, -y[s:e] - k])[1:]
        l_p = np.minimum.accumulate(np.minimum(c_p, lp))
        l_n = np.minimum.accumulate(np.minimum(c_n, ln))
        st = np.maximum(c_p - l_p, c_n - l_n)
        c_v = np.cumsum(np.r_[cv, y2[s:e]])[1:]
        l_v = np.minimum.accumulate(np.minimum(c_v, lv))
        sv = c_v - l_v
        m_after = first_order(a, 1.0 - a, u[s:e], mean)
        dev = ref[s:e] - np.r_[mean, m_after[:-1]]
        v_after = first_order(a, 1.0 - a, dev * dev, var)
        z = dev / np.maximum(np.sqrt(np.r_[var, v_after[:-1]]), floor[s:e])
        hit = np.flatnonzero((st >= limit) | (sv >= v_limit)
                             | (level_on[s:e] & (np.abs(z) >= z_limit)))
        j = int(hit[0]) if len(hit) else e - s - 1
        cus[s:s + j + 1] = st[:j + 1]
        sca[s:s + j + 1] = sv[:j + 1]
        zl[s:s + j + 1] = z[:j + 1]
        var = float(v_after[j])
        if len(hit):
            cp = cn = lp = ln = cv = lv = 0.0
            mean = float(ref[s + j])
            chunk = 256
        else:
            cp, cn, lp, ln = float(c_p[-1]), float(c_n[-1]), float(l_p[-1]), float(l_n[-1])
            cv, lv = float(c_v[-1]), float(l_v[-1])
            mean = float(m_after[-1])
            chunk = min(chunk * 4, 1 << 16)
        s += j + 1
    return cus, zl, sca
