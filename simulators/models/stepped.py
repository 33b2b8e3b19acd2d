"""A model that integrates on a fixed time grid, and the random draws models share."""

from __future__ import annotations

import math
import random

# Kota Batu keeps Western Indonesia Time (WIB, UTC+7); daily cycles follow local time.
WIB_OFFSET_S = 7 * 3600
DAY_S = 86400


def local_hour(ts: float) -> float:
    """Hour of the day in WIB, 0 <= h < 24."""
    return ((ts + WIB_OFFSET_S) % DAY_S) / 3600.0


def local_day(ts: float) -> int:
    """Days since the epoch, counted at WIB midnight."""
    return int((ts + WIB_OFFSET_S) // DAY_S)


def seeded(seed: int, *names: object) -> random.Random:
    """An independent generator per (seed, name...): str seeds hash with SHA-512, so
    the stream is the same on every run and every PYTHONHASHSEED."""
    return random.Random(":".join(str(n) for n in (seed, *names)))


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        # Normal approximation; exact sampling would cost O(lam) per draw.
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if n > 50:
        mean, sd = n * p, math.sqrt(n * p * (1 - p))
        return min(n, max(0, round(rng.gauss(mean, sd))))
    return sum(1 for _ in range(n) if rng.random() < p)


class SteppedModel:
    """Advances its state in steps of ``step_s`` up to the time asked for.

    Queries must not go back in time; a query earlier than the state's time
    returns the current state (the scenario merges nodes in time order, so this
    only happens for two queries inside one step).
    """

    step_s: float = 60.0

    def __init__(self, start_ts: float) -> None:
        self.t = start_ts

    def advance(self, ts: float) -> None:
        while self.t + self.step_s <= ts:
            self._step(self.t, self.step_s)
            self.t += self.step_s

    def _step(self, t: float, dt: float) -> None:
        raise NotImplementedError
