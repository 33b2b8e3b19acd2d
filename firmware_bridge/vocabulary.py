"""The words every layer shares: the hazards and the national four-level warning scale.

Stated here once; analytics, the gateway, the uplink contract and the hub import them.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal, get_args

__all__ = ["HAZARDS", "REPORT_HAZARDS", "Hazard", "Level", "ReportHazard"]

ReportHazard = Literal["landslide", "flood", "fire", "crowd"]
"""What a citizen can report: the natural and crowd hazards."""

Hazard = Literal[ReportHazard, "sensor_fault"]
"""What a detector can raise an alert for: a citizen's hazards and a failing sensor."""

REPORT_HAZARDS: tuple[ReportHazard, ...] = get_args(ReportHazard)
HAZARDS: tuple[Hazard, ...] = (*REPORT_HAZARDS, "sensor_fault")


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
