"""Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter").

Jitter spreads the retries of many gateways that lost the same cell tower, so they
do not all reconnect to the hub in the same second.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self._rng = rng or random.Random()
        self._attempt = 0

    def next_delay(self) -> float:
        """A delay in [min_s, cap], cap doubling per failure up to max_s."""
        cap = min(self.max_s, self.min_s * 2.0 ** self._attempt)
        self._attempt = min(self._attempt + 1, 62)
        return self._rng.uniform(self.min_s, cap)

    def reset(self) -> None:
        self._attempt = 0

    @property
    def failures(self) -> int:
        return self._attempt
