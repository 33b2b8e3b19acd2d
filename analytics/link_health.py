"""Node-level link health: silence longer than k x the node's interval, sequence gaps,
restarts.

Driven by the gateway: ``seen`` on every reading, ``gap`` when it notices missing
sequence numbers, ``reboot`` when a node restarts, ``check`` from its core-thread tick.
Silence is Siaga (we are blind to that node); recent gaps or a restart are Waspada until
``gap_clear_s`` passes without a new one.
"""

from __future__ import annotations

import math

from siaga.analytics.config import HealthConfig
from siaga.analytics.explain import Explanation, fmt


class LinkHealth:
    name = "health:link"
    hazard = "sensor_fault"

    def __init__(self, node: str, cfg: HealthConfig, interval_s: float) -> None:
        self.node = node
        self.cfg = cfg
        self.interval_s = interval_s
        self.level = 1
        self.last_seen = -math.inf
        self.missing = 0
        self._gap_until = -math.inf
        self._silent = False
        self._now = 0.0
        self.reboots = 0

    def _settle(self, now: float) -> bool:
        self._now = now
        self._silent = now - self.last_seen > self.cfg.silence_factor * self.interval_s \
            if math.isfinite(self.last_seen) else False
        new = 3 if self._silent else 2 if now < self._gap_until else 1
        if now >= self._gap_until and new == 1:
            self.missing = 0
            self.reboots = 0
        changed = new != self.level
        self.level = new
        return changed

    def seen(self, ts: float) -> bool:
        if ts > self.last_seen:
            self.last_seen = ts
        if self.level == 1 and ts >= self._gap_until:
            return False  # a reading cannot make a healthy link silent or gappy
        return self._settle(ts)

    def _fresh(self, ts: float) -> None:
        if ts >= self._gap_until:  # the previous episode is over: count anew
            self.missing = 0
            self.reboots = 0

    def gap(self, missing: int, ts: float) -> bool:
        self._fresh(ts)
        self.missing += missing
        self._gap_until = ts + self.cfg.gap_clear_s
        return self._settle(max(ts, self.last_seen))

    def reboot(self, ts: float) -> bool:
        """The node restarted (sequence or counters back to 0): Waspada like a gap."""
        self._fresh(ts)
        self.reboots += 1
        self._gap_until = ts + self.cfg.gap_clear_s
        return self._settle(max(ts, self.last_seen))

    def check(self, now: float) -> bool:
        return self._settle(now)

    def explain(self, previous: int) -> Explanation:
        n = self.node
        if self.level == 3:
            quiet = fmt(self._now - self.last_seen)
            lim = fmt(self.cfg.silence_factor * self.interval_s)
            return Explanation(f"Node {n} diam {quiet} s (batas {lim} s)",
                               f"Node {n} silent for {quiet} s (limit {lim} s)",
                               {"silent_s": self._now - self.last_seen},
                               {"silence_s": self.cfg.silence_factor * self.interval_s})
        if self.level == 2 and self.reboots and not self.missing:
            return Explanation(f"Node {n} memulai ulang (urutan/penghitung kembali ke 0)",
                               f"Node {n} restarted (sequence/counters back to 0)",
                               {"reboots": float(self.reboots)}, {},
                               window_s=self.cfg.gap_clear_s)
        if self.level == 2:
            return Explanation(f"Node {n}: {self.missing} bacaan hilang (celah urutan)",
                               f"Node {n}: {self.missing} readings missing (sequence gaps)",
                               {"missing": float(self.missing)}, {},
                               window_s=self.cfg.gap_clear_s)
        return Explanation(f"Tautan node {n} kembali normal", f"Node {n} link is healthy again")
