"""Maps simulated time onto the wall clock for live runs, and waits without polling."""

from __future__ import annotations

import threading
import time


class Pacer:
    """Simulated time ``sim_start`` happens at the wall's ``monotonic()`` of construction,
    and simulated seconds pass ``speed`` times faster than real ones."""

    def __init__(self, sim_start: float, speed: float, stop: threading.Event) -> None:
        self.sim_start = sim_start
        self.speed = speed
        self.stop = stop
        self.wall_start = time.monotonic()

    def wait_until(self, sim_ts: float) -> bool:
        """Block until ``sim_ts`` is due; False when stopped first."""
        delay = self.wall_start + (sim_ts - self.sim_start) / self.speed - time.monotonic()
        if delay > 0:
            return not self.stop.wait(delay)
        return not self.stop.is_set()


class RatePacer:
    """Paces by count instead: the n-th message is due at n / rate seconds."""

    def __init__(self, rate: float, stop: threading.Event) -> None:
        self.rate = rate
        self.stop = stop
        self.wall_start = time.monotonic()
        self.count = 0

    def wait_next(self) -> bool:
        delay = self.wall_start + self.count / self.rate - time.monotonic()
        self.count += 1
        if delay > 0:
            return not self.stop.wait(delay)
        return not self.stop.is_set()
