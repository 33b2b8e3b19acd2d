"""The agencies' report card: pure statistics over their clocks (no I/O, ``now`` is an argument).

Definitions (also in docs/incidents.md):

- An agency handles an incident when its clock on it started in ``[from, to)``; a reopened
  incident counts again with its new clock.
- Acknowledgement is *measured* when the clock has an ack deadline (the level had an SLA)
  and either it was acknowledged or the deadline passed while the incident was still
  unresolved. It is *on time* when acknowledged at or before the deadline. Clocks still
  inside their deadline are pending and left out. Resolution likewise, with the resolve
  deadline; incidents the hub resolved itself (a gateway came back) are left out of
  resolution figures.
- Times are seconds from the clock's start. The median is the middle value (mean of the
  two middle ones for an even count); p90 uses the nearest-rank method: the smallest value
  with at least 90 % of the values at or below it, ``sorted[ceil(0.9 n) - 1]``.
- Rapor merah: either on-time share under the bar.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["AgencyScore", "ClockFacts", "nearest_rank", "score_agencies"]


@dataclass(frozen=True, slots=True)
class ClockFacts:
    agency: str
    started_at: float
    ack_due_at: float | None
    resolve_due_at: float | None
    acknowledged_at: float | None
    resolved_at: float | None
    auto_resolved: bool = False
    escalated: bool = False


@dataclass(frozen=True, slots=True)
class AgencyScore:
    agency: str
    handled: int
    acknowledged: int
    resolved: int
    escalated: int
    ack_measured: int
    ack_on_time: int
    resolve_measured: int
    resolve_on_time: int
    ack_on_time_share: float | None
    resolve_on_time_share: float | None
    ack_median_s: float | None
    ack_p90_s: float | None
    resolve_median_s: float | None
    resolve_p90_s: float | None
    rapor_merah: bool


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _share(on_time: int, measured: int) -> float | None:
    return round(on_time / measured, 4) if measured else None


def _measure(due: float | None, done: float | None, closed: float | None,
             now: float) -> bool | None:
    """On time (True), late (False) or not measured (None) for one deadline."""
    if due is None:
        return None
    if done is not None:
        return done <= due
    if due <= (closed if closed is not None else now):
        return False
    return None


def _score(agency: str, clocks: list[ClockFacts], now: float, bar: float) -> AgencyScore:
    ack = [_measure(c.ack_due_at, c.acknowledged_at, c.resolved_at, now) for c in clocks]
    res = [
        None if c.auto_resolved else _measure(c.resolve_due_at, c.resolved_at, None, now)
        for c in clocks
    ]
    ack_times = [c.acknowledged_at - c.started_at for c in clocks if c.acknowledged_at is not None]
    res_times = [
        c.resolved_at - c.started_at
        for c in clocks
        if c.resolved_at is not None and not c.auto_resolved
    ]
    ack_measured = sum(1 for m in ack if m is not None)
    res_measured = sum(1 for m in res if m is not None)
    ack_share = _share(sum(1 for m in ack if m), ack_measured)
    res_share = _share(sum(1 for m in res if m), res_measured)
    return AgencyScore(
        agency=agency,
        handled=len(clocks),
        acknowledged=len(ack_times),
        resolved=sum(1 for c in clocks if c.resolved_at is not None),
        escalated=sum(1 for c in clocks if c.escalated),
        ack_measured=ack_measured,
        ack_on_time=sum(1 for m in ack if m),
        resolve_measured=res_measured,
        resolve_on_time=sum(1 for m in res if m),
        ack_on_time_share=ack_share,
        resolve_on_time_share=res_share,
        ack_median_s=_median(ack_times),
        ack_p90_s=nearest_rank(ack_times, 0.9),
        resolve_median_s=_median(res_times),
        resolve_p90_s=nearest_rank(res_times, 0.9),
        rapor_merah=any(s is not None and s < bar for s in (ack_share, res_share)),
    )


def score_agencies(clocks: Iterable[ClockFacts], *, now: float, bar: float,
                   agencies: Iterable[str] = ()) -> list[AgencyScore]:
    """One score per agency (those named in ``agencies`` even with no clocks), sorted by name."""
    by_agency: dict[str, list[ClockFacts]] = {a: [] for a in agencies}
    for c in clocks:
        by_agency.setdefault(c.agency, []).append(c)
    return [_score(a, by_agency[a], now, bar) for a in sorted(by_agency)]
