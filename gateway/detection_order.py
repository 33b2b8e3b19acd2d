"""The order readings reach the detectors in: node time, whatever order they arrived in.

Pure. A node that was offline flushes its stored readings in seconds, and the MQTT
broker or a batch may mix them with live ones; detectors measure rates and windows in
reading time (``Reading.ts``), so they must see each node's readings in that order.
Within one core batch the readings are put in time order (a stable sort, so readings
of the same time keep their arrival order); a batch without late readings, the live
case, is left as it is at no cost. Across batches, arrival order stands: a node sends
its backlog oldest first (PROTOCOL.md), and a reading older than the last one the
detectors saw on its node and channel is still stored and sent to the hub but counted
``out_of_order`` by the engine instead of rewinding a detector.

Readings more than ``MAX_LATE_S`` before their arrival (beyond the longest backlog a
node keeps) are stored and sent to the hub at their time, marked late, and counted
``too_late``, but reach no detector: a level reached from week-old data would say
nothing about now and would stand until the next reading cleared it.
"""

from __future__ import annotations

from collections.abc import Sequence

from siaga.firmware_bridge.reading import Reading

MAX_LATE_S = 7 * 86400.0


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
