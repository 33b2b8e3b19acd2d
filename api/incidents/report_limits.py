"""Sliding-window rate limits on citizen reports, per client address and per reporter (pure:
the caller passes the time).

A report is admitted only if every key it carries (its address, and its contact when given)
is under its limit; an admitted report counts against all its keys, a refused one against
none, so a flood does not lock out a reporter for longer than the window. State is per hub
process (several processes behind one proxy each allow the limit; docs/reports.md).
"""

from __future__ import annotations

from collections import deque

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` events per key in any ``window_s`` seconds; at most ``max_keys``
    keys are tracked (the least recently used are forgotten, so memory stays bounded)."""

    def __init__(self, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def wait_s(self, key: str, now: float) -> float:
        """Seconds until ``key`` may act again; 0 when it may now."""
        q = self._events.get(key)
        if q is None:
            return 0.0
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._events[key]
            return 0.0
        return 0.0 if len(q) < self.limit else q[0] + self.window_s - now

    def record(self, key: str, now: float) -> None:
        q = self._events.pop(key, None) or deque()
        q.append(now)
        self._events[key] = q  # re-inserted: dict order is least recently used first
        while len(self._events) > self.max_keys:
            del self._events[next(iter(self._events))]
