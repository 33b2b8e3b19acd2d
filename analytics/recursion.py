"""First-order linear recursion y[k] = b * x[k] + c * y[k-1], vectorised without scipy.

Importing scipy.signal costs seconds on a Raspberry Pi class machine; this blocked
closed form costs a few numpy passes. Within a block of B values,
y[j] = c^(j+1) * (y_prev + sum_{i<=j} b x[i] c^-(i+1)); blocks chain through their last
value. Results agree with the sequential recursion to a few ulps (the block size keeps
c^-B far from overflow), which is what the streaming/batch equality tests allow.
"""

from __future__ import annotations

import math

import numpy as np

from analytics.leveling import FloatArray

MAX_BLOCK = 64


def first_order(b: float, c: float, x: FloatArray, y0: float) -> FloatArray:
    """y[k] = b * x[k] + c * y[k-1] with y[-1] = y0, for 0 <= c < 1."""
    n = len(x)
    if n == 0:
        return np.zeros(0)
    if c <= 1e-100:
        out = b * x
        out[0] += c * y0
        return out
    block = max(1, min(MAX_BLOCK, int(150.0 / -math.log10(c)) if c < 1 else MAX_BLOCK))
    m = -(-n // block)
    padded = np.zeros(m * block)
    padded[:n] = x
    xs = padded.reshape(m, block)
    j = np.arange(1, block + 1, dtype=np.float64)
    grow = c ** j
    zero_state = np.cumsum(xs * (b / grow), axis=1) * grow
    out = np.empty((m, block))
    carry = y0
    for k in range(m):
        row = zero_state[k] + carry * grow
        out[k] = row
        carry = row[-1]
    return out.reshape(-1)[:n]
