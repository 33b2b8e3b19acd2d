"""Records that cross the telemetry store's boundary: query results and incident events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["AGGREGATES", "AggregatePoint", "Aggregate", "IncidentEventPoint", "LatestReading",
           "ReadingPoint"]

Aggregate = Literal["mean", "min", "max", "sum"]
AGGREGATES: tuple[Aggregate, ...] = ("mean", "min", "max", "sum")


@dataclass(frozen=True, slots=True)
class ReadingPoint:
    """One stored reading of a node's channel (times in ms since the epoch, UTC)."""

    ts: int
    value: float
    seq: int
    gateway: str


@dataclass(frozen=True, slots=True)
class AggregatePoint:
    """One interval ``[ts, ts + every)``; intervals are aligned to the epoch, empty ones omitted."""

    ts: int
    mean: float
    min: float
    max: float
    sum: float
    count: int


@dataclass(frozen=True, slots=True)
class LatestReading:
    channel: str
    ts: int
    value: float


@dataclass(frozen=True, slots=True)
class IncidentEventPoint:
    """An incident event for Grafana annotations (measurement ``incident_event``).

    ``agencies`` become one tag ``agency`` (sorted, comma-joined: ``"BPBD,PMK"``; Grafana
    filters with ``agency =~ /PMK/``). Identity is ``(id, type, ts)``: writing it again
    changes nothing.
    """

    ts: int  # ms since the epoch, UTC
    id: str  # incident id
    type: str  # "incident.opened", "incident.escalated", ...
    hazard: str
    level: int
    site: str
    agencies: tuple[str, ...] = field(default=())
    text: str = ""

    @property
    def agency_tag(self) -> str:
        return ",".join(sorted(self.agencies))

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts, "id": self.id, "type": self.type, "hazard": self.hazard,
                "level": self.level, "site": self.site, "agencies": list(self.agencies),
                "text": self.text}
