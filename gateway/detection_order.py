"""The order readings reach the detectors in: node time, whatever order they arrived in.

Pure. A node that was offline flushes its stored readings in seconds, and the MQTT
broker or a batch may mix them with live ones; detectors measure rates and windows in
reading time (``Reading.ts``), so they must see each node's readings in that order.
Within one core batch the readings are put in time order (a stable sort, so readings
of the same time keep their arrival order); a batch without late readings, the live
case, is left as it is at no cost. While the core's gathering grows for a trickle
(gateway/core.py ``_gather``) live readings are detected as they arrive, so an alert
commits at once; from the first late reading on, the rest of the gathering is detected
together in time order. Live readings detected before it are an earlier batch here.
Across batches, arrival order stands: a node sends
its backlog oldest first (PROTOCOL.md), and a reading older than the last one the
detectors saw on its node and channel is still stored and sent to the hub but counted
``out_of_order`` by the engine instead of rewinding a detector.

A node that comes back from a silence may send its newest reading before its backlog,
in separate batches: the backlog would then be older than what the detectors have seen.
``ReorderWindow`` holds the readings of a node heard again after a silence (more than
``REORDER_SILENCE_S`` and more than ``REORDER_CADENCE`` times the gap before it, on
receive times, so a node that always reports every 10 minutes is not "reconnecting";
a node needs two readings before its cadence is known)
back from the detectors until no older reading
of it has arrived for ``REORDER_SETTLE_S`` (at most ``REORDER_MAX_S``; the gateway's
monotonic clock), then releases them in time order. Live nodes pass straight through;
a reconnecting node's detection waits a few seconds (its alerts keep their reading
times). Not covered, stored and sent but ``out_of_order`` for the detectors as before:
a backlog that starts more than the settle time after the live reading or lasts beyond
the maximum, and a node heard once or never since the gateway started (no cadence to
compare its silence with). Counter channels (rain, pin, pout) become increments in
arrival order before this, so a counter's backlog sent after a newer count is
``counter_reset`` whatever the detectors see: counter nodes must send oldest first.

Readings more than ``MAX_LATE_S`` before their arrival (beyond the longest backlog a
node keeps) are stored and sent to the hub at their time, marked late, and counted
``too_late``, but reach no detector: a level reached from week-old data would say
nothing about now and would stand until the next reading cleared it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from siaga.firmware_bridge.reading import Reading

MAX_LATE_S = 7 * 86400.0
# A node unheard for two minutes (two missed reports at the usual 1-minute interval) may
# flush a backlog; a backlog is flushed in seconds; the wait stays bounded.
REORDER_SILENCE_S = 120.0
REORDER_CADENCE = 3.0
REORDER_SETTLE_S = 5.0
REORDER_MAX_S = 60.0


def _time(r: Reading) -> float:
    return r.ts


def detection_order(readings: Sequence[Reading],
                    max_late_s: float = MAX_LATE_S) -> tuple[Sequence[Reading], list[Reading]]:
    """(the readings the detectors get, in time order; those beyond the horizon)."""
    if not any(r.late for r in readings):
        return readings, []
    kept = [r for r in readings if r.received_at - r.ts <= max_late_s]
    beyond = [r for r in readings if r.received_at - r.ts > max_late_s] \
        if len(kept) < len(readings) else []
    kept.sort(key=_time)
    return kept, beyond


@dataclass(slots=True)
class _Hold:
    started: float
    settle_from: float  # the hold began, or an older reading arrived
    newest: float
    readings: list[Reading]


class ReorderWindow:
    """Per node, a bounded wait before detection after a silence (see the module doc).

    ``now`` is the gateway's monotonic clock; silences are measured on the readings'
    receive times. One instance, owned by the core thread.
    """

    def __init__(self, silence_s: float = REORDER_SILENCE_S,
                 settle_s: float = REORDER_SETTLE_S, max_s: float = REORDER_MAX_S) -> None:
        self.silence_s, self.settle_s, self.max_s = silence_s, settle_s, max_s
        self._heard: dict[str, tuple[float, float]] = {}  # node -> (last receive, gap)
        self._holds: dict[str, _Hold] = {}

    def admit(self, readings: Sequence[Reading], now: float) -> list[Reading]:
        """The readings ready for detection: holds that are due, then these unless held."""
        out = self.due(now)
        for r in readings:
            hold = self._holds.get(r.node)
            last, gap_before = self._heard.get(r.node, (math.nan, math.nan))
            gap = r.received_at - last
            if gap > 0.0 or gap != gap:
                self._heard[r.node] = (r.received_at, gap if gap == gap else math.nan)
            if (hold is None and not r.late and gap > self.silence_s
                    and gap > REORDER_CADENCE * gap_before):  # false while the gap is unknown
                hold = self._holds[r.node] = _Hold(now, now, r.ts, [])
            if hold is None:
                out.append(r)
                continue
            if r.ts < hold.newest:
                hold.settle_from = now
            hold.newest = max(hold.newest, r.ts)
            hold.readings.append(r)
        return out

    def due(self, now: float, everything: bool = False) -> list[Reading]:
        """Readings of the holds that have settled (or all, at shutdown), in time order."""
        out: list[Reading] = []
        for node, hold in list(self._holds.items()):
            if (everything or now - hold.settle_from >= self.settle_s
                    or now - hold.started >= self.max_s):
                del self._holds[node]
                out.extend(sorted(hold.readings, key=_time))
        return out
