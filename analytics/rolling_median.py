"""Median and MAD of a sliding window: a sorted list for streaming, partitions for batch.

Both give the same bits for an odd window (the middle element); ``sorted_mad`` finds the
MAD of a sorted list in O(log n) by bisection.
"""

from __future__ import annotations

import bisect
import math

import numpy as np


def rolling_median_mad(win: np.ndarray, med: np.ndarray, mad: np.ndarray,
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
        return kth_deviation(s, med, p, h)
    return (kth_deviation(s, med, p, h - 1) + kth_deviation(s, med, p, h)) / 2


def kth_deviation(s: list[float], med: float, p: int, k: int) -> float:
    """The k-th smallest |x - med| of the sorted list ``s``, ``p = bisect_left(s, med)``."""
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


def median_of_sorted(s: list[float]) -> float:
    n = len(s)
    h = n // 2
    return s[h] if n % 2 else (s[h - 1] + s[h]) / 2


def middle_of_three(a: float, b: float, c: float) -> float:
    """``sorted((a, b, c))[1]``, the very object, NaN and -0.0 included, without the list.

    The comparisons are those CPython's sort makes on three items (a run of two or three,
    then a binary insertion); the streaming anomaly score takes one per reading (issue 17).
    """
    if b < a:
        if c < b:
            return b
        return c if c < a else a
    if not c < b:
        return b
    return a if c < a else c
