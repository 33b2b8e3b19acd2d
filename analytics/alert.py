"""The Alert record: a detector's level changed for a node (or a site)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from siaga.firmware_bridge.reading import iso_utc
from siaga.firmware_bridge.vocabulary import Hazard, Level

ALERT_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Alert:
    """Raised when a detector's level changes, up or down; never once per reading.

    ``values`` and ``thresholds`` hold what decided the level (e.g. ``{"rain_3h_mm": 78}``
    and ``{"siaga_mm": 60}``); ``window_s`` is the span of data looked at. ``ts`` is
    the time of the reading that changed the level (POSIX seconds, UTC). ``channels`` and
    ``nodes`` name every input the detector had (so an incident page can chart them);
    ``late`` marks an alert raised on late readings (a backlog), at their own time.
    """

    node: str
    hazard: Hazard
    level: Level
    previous_level: Level
    detector: str
    ts: float
    explanation_id: str
    explanation_en: str
    site: str | None = None
    channel: str | None = None
    values: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    window_s: float = 0.0
    channels: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    late: bool = False

    @property
    def explanation(self) -> str:
        return self.explanation_id

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "alert",
            "v": ALERT_SCHEMA_VERSION,
            "node": self.node,
            "site": self.site,
            "hazard": self.hazard,
            "level": int(self.level),
            "level_name": self.level.label_id,
            "previous_level": int(self.previous_level),
            "detector": self.detector,
            "channel": self.channel,
            "ts": iso_utc(self.ts),
            "explanation": self.explanation_id,
            "explanation_en": self.explanation_en,
            "values": self.values,
            "thresholds": self.thresholds,
            "window_s": self.window_s,
            "channels": list(self.channels),
            "nodes": list(self.nodes),
            "late": self.late,
        }
