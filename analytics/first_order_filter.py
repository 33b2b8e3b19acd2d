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

from siaga.analytics.hysteresis import FloatArray

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
    # Each block starts from the previous block's last value; that chain is scalar, the
    # rest is one broadcast (the same float operations as row by row, so the same bits).
    g_last = float(grow[-1])
    carries = [y0]
    for z_last in zero_state[:-1, -1].tolist():
        carries.append(z_last + carries[-1] * g_last)
    out = zero_state + np.array(carries)[:, None] * grow
    return out.reshape(-1)[:n]
