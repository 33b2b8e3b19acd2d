"""Anomaly scores on one channel: rolling robust z (median/MAD), EWMA chart, CUSUM.

Each gives a score in [0, 1) as s / (s + limit), so the flag (s >= limit) is exactly
score >= 0.5, and a flag is level Waspada. EWMA and CUSUM standardise against a slow
baseline (exponentially weighted mean and variance, ``baseline_alpha``); all three stay
at 0 for the first ``warmup`` readings.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from siaga.analytics.config import AnomalyConfig
from siaga.analytics.detector import BatchResult, StrArray
from siaga.analytics.detectors.rain import spread_float
from siaga.analytics.detectors.threshold import CHANNEL_HAZARD, spread
from siaga.analytics.explain import Explanation, fmt
from siaga.analytics.first_order_filter import first_order
from siaga.analytics.hysteresis import FloatArray

MAD_SIGMA = 1.4826  # MAD of a normal distribution is 0.6745 sigma


class _Anomaly:
    name = "anomaly"
    limit = 1.0

    def __init__(self, channel: str, cfg: AnomalyConfig) -> None:
        self.channel = channel
        self.channels = frozenset({channel})
        self.hazard = CHANNEL_HAZARD.get(channel, "sensor_fault")
        self.cfg = cfg
        self.level = 1
        self.score = 0.0
        self.stat = 0.0
        self._value = math.nan
        self.min_sigma = cfg.min_sigma_by_channel.get(channel, cfg.min_sigma)

    def _finish(self, stat: float) -> bool:
        self.stat = stat
        self.score = stat / (stat + self.limit)
        new = 2 if stat >= self.limit else 1
        changed = new != self.level
        self.level = new
        return changed

    def metrics(self) -> dict[str, float]:
        return {"score": self.score, "stat": self.stat}

    def explain(self, previous: int) -> Explanation:
        if self.level > previous:
            tid = (f"Anomali {self.name} pada {self.channel}: nilai {fmt(self._value)}, "
                   f"statistik {fmt(self.stat)} melewati batas {fmt(self.limit)}")
            ten = (f"{self.name} anomaly on {self.channel}: value {fmt(self._value)}, "
                   f"statistic {fmt(self.stat)} exceeds the limit {fmt(self.limit)}")
        else:
            tid = f"Anomali {self.name} pada {self.channel} berakhir"
            ten = f"{self.name} anomaly on {self.channel} has ended"
        return Explanation(tid, ten, {"value": self._value, "stat": self.stat,
                                      "score": self.score}, {"limit": self.limit},
                           self.channel)

    def _result(self, ts: FloatArray, channels: StrArray, rows: np.ndarray,
                stat: FloatArray) -> BatchResult:
        score = stat / (stat + self.limit)
        lv = np.where(stat >= self.limit, 2, 1).astype(np.int8)
        return BatchResult(spread(len(ts), rows, lv), spread_float(len(ts), rows, score),
                           {"stat": spread_float(len(ts), rows, stat)})


class RobustZDetector(_Anomaly):
    name = "robust_z"

    def __init__(self, channel: str, cfg: AnomalyConfig) -> None:
        super().__init__(channel, cfg)
        self.limit = cfg.robust_threshold
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []
        self._seen = 0

    def update(self, ts: float, channel: str, value: float) -> bool:
        self._value = value
        s = self._sorted
        n = len(s)
        stat = 0.0
        if self._seen >= self.cfg.warmup:
            med = _median(s)
            mad = sorted_mad(s, med)
            stat = abs(value - med) / max(MAD_SIGMA * mad, self.min_sigma)
        self._seen += 1
        self._fifo.append(value)
        bisect.insort(s, value)
        if n + 1 > self.cfg.robust_window:
            old = self._fifo.popleft()
            del s[bisect.bisect_left(s, old)]
        return self._finish(stat)

    def batch(self, ts: FloatArray, channels: StrArray, values: FloatArray) -> BatchResult:
        rows = np.flatnonzero(channels == self.channel)
        v = values[rows]
        n, w, warm = len(v), self.cfg.robust_window, self.cfg.warmup
        med = np.full(n, np.nan)
        mad = np.full(n, np.nan)
        for i in range(warm, min(w, n)):  # growing windows before the first full one
            med[i] = np.median(v[:i])
            mad[i] = np.median(np.abs(v[:i] - med[i]))
        if n > w:
            first = max(w, warm)
            _rolling_median_mad(sliding_window_view(v, w)[first - w:-1], med[first:],
                                mad[first:])
        with np.errstate(invalid="ignore"):
            stat = np.abs(v - med) / np.maximum(MAD_SIGMA * mad, self.min_sigma)
        stat = np.where(np.isnan(med), 0.0, stat)
        return self._result(ts, channels, rows, stat)


def _rolling_median_mad(win: np.ndarray, med: np.ndarray, mad: np.ndarray,
                        block: int = 4096) -> None:
    """Median and MAD of each window row, in blocks to bound memory.

    An odd window takes the middle element by partition (exactly what a sorted list
    gives); an even one goes through np.median, the mean of the middle two.
    """
    w = win.shape[1]
    h = w // 2
    for s in range(0, len(win), block):
        blk = win[s:s + block]
        if w % 2:
            p = np.partition(blk, h, axis=1)
            m = p[:, h].copy()
            np.abs(p - m[:, None], out=p)
            mad[s:s + block] = np.partition(p, h, axis=1)[:, h]
        else:
            m = np.median(blk, axis=1)
            mad[s:s + block] = np.median(np.abs(blk - m[:, None]), axis=1)
        med[s:s + block] = m


def sorted_mad(s: list[float], med: float) -> float:
    """Median absolute deviation of the sorted list ``s`` from ``med`` in O(log n).

    The deviations below and above ``med`` form two ascending sequences; the k-th
    smallest of their union is found by bisection instead of sorting all of them.
    """
    n = len(s)
    p = bisect.bisect_left(s, med)
    h = n // 2
    if n % 2:
        return _kth_deviation(s, med, p, h)
    return (_kth_deviation(s, med, p, h - 1) + _kth_deviation(s, med, p, h)) / 2


def _kth_deviation(s: list[float], med: float, p: int, k: int) -> float:
    # A[t] = med - s[p-1-t] (t < p), B[t] = s[p+t] - med (t < n-p); both ascending.
    n_a, n_b = p, len(s) - p
    lo, hi = max(0, k + 1 - n_b), min(k + 1, n_a)
    while lo < hi:
        a = (lo + hi) // 2
        b = k + 1 - a
        if b > 0 and med - s[p - 1 - a] < s[p + b - 1] - med:
            lo = a + 1
        else:
            hi = a
    b = k + 1 - lo
    from_a = med - s[p - lo] if lo > 0 else -math.inf
    from_b = s[p + b - 1] - med if b > 0 else -math.inf
    return from_a if from_a > from_b else from_b


def _median(s: list[float]) -> float:
    n = len(s)
    h = n // 2
    return s[h] if n % 2 else (s[h - 1] + s[h]) / 2


class _Baseline(_Anomaly):
    """Slow exponentially weighted mean and variance, updated after each score."""

    def __init__(self, channel: str, cfg: AnomalyConfig) -> None:
        super().__init__(channel, cfg)
        self._n = 0
        self._mu = 0.0
        self._var = 0.0
        a = cfg.baseline_alpha
        self._a = a
        self._keep = 1.0 - a
        self._va = (1.0 - a) * a
        self._exact = max(1, round(1.0 / a))

    def _sigma(self) -> float:
        return max(math.sqrt(self._var), self.min_sigma)

    def _learn(self, value: float) -> None:
        n = self._n
        if n == 0:
            self._mu = value
        elif n < self._exact:
            # Until 1/alpha readings, weights 1/(n+1) give the plain mean and variance,
            # so the baseline is not biased towards the first value (or towards 0 spread).
            a = 1.0 / (n + 1)
            d = value - self._mu
            self._mu = a * value + (1.0 - a) * self._mu
            self._var = (1.0 - a) * a * (d * d) + (1.0 - a) * self._var
        else:
            d = value - self._mu
            self._mu = self._a * value + self._keep * self._mu
            self._var = self._va * (d * d) + self._keep * self._var
        self._n = n + 1

    def _baseline_v(self, v: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Mean and sigma known before each value (index 0 has none: nan)."""
        n = len(v)
        mu_b = np.full(n, np.nan)
        sd_b = np.full(n, np.nan)
        if n == 0:
            return mu_b, sd_b
        a, keep = self._a, self._keep
        mu_after = np.empty(n)
        var_after = np.zeros(n)
        head = min(n, self._exact)
        mu, var = float(v[0]), 0.0
        mu_after[0] = mu
        for k in range(1, head):  # the exact-mean start, as in _learn
            x = float(v[k])
            w = 1.0 / (k + 1)
            d = x - mu
            mu = w * x + (1.0 - w) * mu
            var = (1.0 - w) * w * (d * d) + (1.0 - w) * var
            mu_after[k] = mu
            var_after[k] = var
        if n > head:
            mu_after[head:] = first_order(a, keep, v[head:], mu)
            dev = v[head:] - mu_after[head - 1:-1]
            var_after[head:] = first_order(self._va, keep, dev * dev, var)
        mu_b[1:] = mu_after[:-1]
        sd_b[1:] = np.maximum(np.sqrt(var_after[:-1]), self.min_sigma)
        return mu_b, sd_b


class EwmaDetector(_Baseline):
    name = "ewma"

    def __init__(self, channel: str, cfg: AnomalyConfig) -> None:
        super().__init__(channel, cfg)
        self.limit = cfg.ewma_limit
        self._lam = cfg.ewma_lambda
        self._lam_keep = 1.0 - cfg.ewma_lambda
        self._width = math.sqrt(cfg.ewma_lambda / (2.0 - cfg.ewma_lambda))
        self._z = 0.0

    def update(self, ts: float, channel: str, value: float) -> bool:
        self._value = value
        stat = 0.0
        if self._n == 0:
            self._z = value
        else:
            self._z = self._lam * value + self._lam_keep * self._z
            if self._n >= self.cfg.warmup:
                stat = abs(self._z - self._mu) / (self._sigma() * self._width)
        self._learn(value)
        return self._finish(stat)

    def batch(self, ts: FloatArray, channels: StrArray, values: FloatArray) -> BatchResult:
        rows = np.flatnonzero(channels == self.channel)
        v = values[rows]
        n = len(v)
        stat = np.zeros(n)
        if n > 1:
            z = first_order(self._lam, self._lam_keep, v[1:], float(v[0]))
            mu, sd = self._baseline_v(v)
            s = np.abs(z - mu[1:]) / (sd[1:] * self._width)
            stat[1:] = np.where(np.arange(1, n) >= self.cfg.warmup, s, 0.0)
        return self._result(ts, channels, rows, stat)


class CusumDetector(_Baseline):
    """Two-sided tabular CUSUM on the standardised value; S = C - min(0, min C) (Lindley)."""

    name = "cusum"

    def __init__(self, channel: str, cfg: AnomalyConfig) -> None:
        super().__init__(channel, cfg)
        self.limit = cfg.cusum_h
        self._cp = self._cn = 0.0
        self._lp = self._ln = 0.0

    def update(self, ts: float, channel: str, value: float) -> bool:
        self._value = value
        if self._n >= self.cfg.warmup and self._n > 0:
            y = (value - self._mu) / self._sigma()
            k = self.cfg.cusum_k
            self._cp += y - k
            self._cn += -y - k
            self._lp = min(self._lp, self._cp)
            self._ln = min(self._ln, self._cn)
        self._learn(value)
        return self._finish(max(self._cp - self._lp, self._cn - self._ln))

    def batch(self, ts: FloatArray, channels: StrArray, values: FloatArray) -> BatchResult:
        rows = np.flatnonzero(channels == self.channel)
        v = values[rows]
        n = len(v)
        stat = np.zeros(n)
        start = max(self.cfg.warmup, 1)
        if n > start:
            mu, sd = self._baseline_v(v)
            y = (v[start:] - mu[start:]) / sd[start:]
            k = self.cfg.cusum_k
            cp = np.cumsum(y - k)
            cn = np.cumsum(-y - k)
            sp = cp - np.minimum.accumulate(np.minimum(cp, 0.0))
            sn = cn - np.minimum.accumulate(np.minimum(cn, 0.0))
            stat[start:] = np.maximum(sp, sn)
        return self._result(ts, channels, rows, stat)
