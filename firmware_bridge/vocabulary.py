"""The words every layer shares: the hazards and the national four-level warning scale.

Stated here once; analytics, the gateway, the uplink contract and the hub import them.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal, get_args

__all__ = [
    "HAZARDS",
    "HAZARD_NAMES",
    "REPORT_HAZARDS",
    "Hazard",
    "Level",
    "ReportHazard",
    "hazard_name",
]

ReportHazard = Literal["landslide", "flood", "fire", "crowd"]
"""What a citizen can report: the natural and crowd hazards."""

Hazard = Literal[ReportHazard, "sensor_fault"]
"""What a detector can raise an alert for: a citizen's hazards and a failing sensor."""

REPORT_HAZARDS: tuple[ReportHazard, ...] = get_args(ReportHazard)
HAZARDS: tuple[Hazard, ...] = (*REPORT_HAZARDS, "sensor_fault")

HAZARD_NAMES: dict[str, tuple[str, str]] = {
    "landslide": ("Tanah longsor", "Landslide"),
    "flood": ("Banjir", "Flood"),
    "fire": ("Kebakaran", "Fire"),
    "crowd": ("Kepadatan massa", "Crowd crush risk"),
    "sensor_fault": ("Gangguan sensor", "Sensor fault"),
    "gateway_silent": ("Gateway tidak mengirim data", "Gateway silent"),
}
"""Hazard names as people say them, (Indonesian, English); the keys are the hazards above
plus ``gateway_silent``, which the hub raises itself (api/incidents/settings.py)."""


def hazard_name(hazard: str, english: bool = False) -> str:
    """The hazard as people say it (Indonesian unless ``english``); an unknown one as is."""
    names = HAZARD_NAMES.get(hazard)
    return hazard if names is None else names[int(english)]


class Level(IntEnum):
    """Level I Normal, II Waspada, III Siaga, IV Awas: every severity in Siaga is one of these."""

    NORMAL = 1
    WASPADA = 2
    SIAGA = 3
    AWAS = 4

    @property
    def label_id(self) -> str:
        return ("Normal", "Waspada", "Siaga", "Awas")[self - 1]

    @property
    def label_en(self) -> str:
        return ("Normal", "Advisory", "Watch", "Warning")[self - 1]
