"""The channel table of the serial frame protocol (PROTOCOL.md, "Channels"), as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ChannelKind = Literal["gauge", "counter"]

COUNTER_MODULUS = 2**32


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    key: str
    quantity: str
    unit: str
    lo: float
    hi: float
    kind: ChannelKind
    # Unit of the increment a counter becomes at the gateway (rain tips -> mm).
    increment_unit: str | None = None

    def in_range(self, value: float) -> bool:
        return self.lo <= value <= self.hi


CHANNELS: dict[str, ChannelSpec] = {
    c.key: c
    for c in (
        ChannelSpec("vwc", "soil volumetric water content", "%", 0, 100, "gauge"),
        ChannelSpec(
            "rain", "rain-gauge bucket tips since boot", "tips", 0, COUNTER_MODULUS - 1,
            "counter", increment_unit="mm",
        ),
        ChannelSpec("smoke", "smoke / combustible gas concentration", "ppm", 0, 10000, "gauge"),
        ChannelSpec("temp", "air temperature", "degC", -40, 85, "gauge"),
        ChannelSpec("hum", "relative humidity", "%", 0, 100, "gauge"),
        ChannelSpec(
            "pin", "people counted entering since boot", "persons", 0, COUNTER_MODULUS - 1,
            "counter", increment_unit="persons",
        ),
        ChannelSpec(
            "pout", "people counted leaving since boot", "persons", 0, COUNTER_MODULUS - 1,
            "counter", increment_unit="persons",
        ),
        ChannelSpec("ext", "extensometer (ground crack) displacement", "mm", 0, 2000, "gauge"),
        ChannelSpec("tilt", "inclinometer tilt", "deg", -90, 90, "gauge"),
        ChannelSpec("tilt_y", "inclinometer tilt, second axis", "deg", -90, 90, "gauge"),
        ChannelSpec("ec", "soil electrical conductivity", "uS/cm", 0, 20000, "gauge"),
        ChannelSpec("level", "water level (stage)", "m", -10, 100, "gauge"),
        ChannelSpec("batt", "battery voltage", "V", 0, 30, "gauge"),
        ChannelSpec("rssi", "radio signal strength", "dBm", -150, 0, "gauge"),
    )
}

# Rain-gauge bucket size when a node's registry entry does not say otherwise (PROTOCOL.md).
DEFAULT_MM_PER_TIP = 0.2

# A key outside the table is kept as an unknown channel, not rejected (PROTOCOL.md).
UNKNOWN_UNIT = ""


def channel_spec(key: str) -> ChannelSpec | None:
    return CHANNELS.get(key)


def reading_unit(key: str) -> str:
    """The unit a Reading of this channel carries after the gateway's conversion."""
    spec = CHANNELS.get(key)
    if spec is None:
        return UNKNOWN_UNIT
    return spec.increment_unit or spec.unit
