"""The national four-level warning scale used for every severity in Siaga."""

from __future__ import annotations

from enum import IntEnum


class Level(IntEnum):
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
