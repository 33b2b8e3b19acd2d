"""Small builders for analytics tests."""

from __future__ import annotations

from siaga.firmware_bridge.channels import reading_unit
from siaga.firmware_bridge.reading import Reading

T0 = 1_790_000_000.0


def reading(node: str, channel: str, value: float, ts: float, seq: int = 0,
            counter_reset: bool = False) -> Reading:
    return Reading(node, channel, value, reading_unit(channel), ts, ts, seq, "replay",
                   counter_reset=counter_reset)
