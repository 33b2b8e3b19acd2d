"""Loads the shared frame vectors (firmware_bridge/vectors/frames.json) for the tests."""

from __future__ import annotations

import json
from typing import Any

from siaga.firmware_bridge.vectors.build import VECTORS_PATH

VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="ascii"))
VALID: list[dict[str, Any]] = VECTORS["valid"]
INVALID: list[dict[str, Any]] = VECTORS["invalid"]
STREAMS: list[dict[str, Any]] = VECTORS["streams"]


def raw(vector: dict[str, Any], key: str = "raw") -> bytes:
    return str(vector[key]).encode("latin-1")


def name(vector: dict[str, Any]) -> str:
    return str(vector["name"])
