"""Time windows shared by detectors, each with a streaming class and a batch function that agree.

Window membership is ``t - W < ts_k <= t``. Sums use one running total (a sequential
float sum, exactly what ``np.cumsum`` does) and subtract the total just before the
window's first entry, so both forms produce the same bits.

Rates keep at most ``RATE_BUCKETS`` readings per window whatever the message rate: only
the first reading of each bucket of ``window_s / RATE_BUCKETS`` seconds (on a fixed grid
of node time) can be a window's oldest reading, so a node reporting more often than once
a bucket has its rate measured from a start up to one bucket later than its true oldest
reading. Both forms thin the same way and still produce the same bits.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from siaga.analytics.hysteresis import FloatArray

# Readings a rate window keeps at most (plus one): its memory per node and channel.
RATE_BUCKETS = 120


class WindowSum:
    """Running sum of non-negative increments over the last ``window_s`` seconds."""

    __slots__ = ("window_s", "total", "_entries")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.total = 0.0
        # Only non-zero increments are kept: zeros do not change the running total, so the
        # total before the first kept entry equals the total before the window's first row.
        self._entries: deque[tuple[float, float]] = deque()

    def add(self, ts: float, value: float) -> float:
        if value != 0.0:
            self._entries.append((ts, self.total))
            self.total += value
        return self.value(ts)

    def value(self, ts: float) -> float:
        e = self._entries
        edge = ts - self.window_s
        while e and e[0][0] <= edge:
            e.popleft()
        return self.total - e[0][1] if e else 0.0


def window_sums(ts: FloatArray, values: FloatArray, window_s: float) -> FloatArray:
    cs = np.cumsum(values)
    j = np.searchsorted(ts, ts - window_s, side="right")
    before = np.where(j > 0, cs[np.maximum(j - 1, 0)], 0.0)
    return cs - before if len(ts) else cs


def sums_at(t_nz: FloatArray, v_nz: FloatArray, at: FloatArray,
            window_s: float) -> FloatArray:
    """``WindowSum.value`` at each time of ``at`` (ascending), fed the non-zero increments
    ``v_nz`` at ``t_nz``: the same running total and subtraction, so the same bits."""
    cs = np.cumsum(v_nz)
    before = np.r_[0.0, cs[:-1]]
    last = np.searchsorted(t_nz, at, side="right") - 1
    first = np.searchsorted(t_nz, at - window_s, side="right")
    inside = first <= last
    out = np.zeros(len(at))
    out[inside] = cs[last[inside]] - before[first[inside]]
    return out


class WindowRate:
    """Change per ``per_s`` between the oldest kept reading in the window and the newest.

    The rate is 0 until the readings span at least half the window, so two close
    readings cannot fake a fast rate. A reading is kept only if it opens a later bucket
    than the last one kept (module docstring).
    """

    __slots__ = ("window_s", "per_s", "bucket_s", "_last_key", "_entries")

    def __init__(self, window_s: float, per_s: float) -> None:
        self.window_s = window_s
        self.per_s = per_s
        self.bucket_s = window_s / RATE_BUCKETS
        self._last_key = -math.inf
        self._entries: deque[tuple[float, float]] = deque()

    def add(self, ts: float, value: float) -> float:
        e = self._entries
        key = (ts / self.bucket_s) // 1.0  # np.floor's value, and no error for nan
        if key > self._last_key:
            self._last_key = key
            e.append((ts, value))
        edge = ts - self.window_s
        while e and e[0][0] <= edge:
            e.popleft()
        if not e:
            return 0.0
        t0, v0 = e[0]
        span = ts - t0
        if span < self.window_s * 0.5:
            return 0.0
        return (value - v0) / span * self.per_s


def window_rates(ts: FloatArray, values: FloatArray, window_s: float,
                 per_s: float) -> FloatArray:
    """``WindowRate.add`` over ascending ``ts``: the same kept readings, the same bits."""
    if not len(ts):
        return ts.copy()
    keys = np.floor(ts / (window_s / RATE_BUCKETS))
    keep = keys > np.r_[-np.inf, np.maximum.accumulate(keys)[:-1]]
    kt, kv = ts[keep], values[keep]
    j = np.searchsorted(kt, ts - window_s, side="right")
    jc = np.minimum(j, len(kt) - 1)
    inside = (j < len(kt)) & (kt[jc] <= ts)
    t0 = np.where(inside, kt[jc], ts)
    v0 = np.where(inside, kv[jc], values)
    span = ts - t0
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (values - v0) / span * per_s
    return np.where(span < window_s * 0.5, 0.0, rate)
