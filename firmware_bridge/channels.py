"""The channel table of the serial frame protocol (PROTOCOL.md, "Channels"), as data.

Two ranges per channel:

- ``lo``..``hi``, the sensor's valid range (the protocol's table). A value outside it is a
  sensor fault the health detectors must see (a DS18B20 printing -127, humidity 120 %), so it
  is kept, stored and alerted on.
- ``accept``, the **accepted range**: what any reading of the channel can hold at all, the
  valid range widened past every known sensor error code, at least +-65535 so that the
  16-bit register sentinels sensors print when they fail (0xFFFF, 0x8000, 6553.5) stay
  visible to the health detectors. A value beyond it is corruption
  (a 1e308, a flipped exponent); the gateway's converter and the hub's ingest both refuse
  such a reading alone (reason ``out_of_range``), never its batch. Counters are checked as
  the increments they become (never negative). A channel outside the table, and every
  number a reading carries, is bounded by ``VALUE_BOUND``, so sums and means over any
  stored data stay finite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

ChannelKind = Literal["gauge", "counter"]

COUNTER_MODULUS = 2**32

VALUE_BOUND = 1e12
"""No reading value in any channel lies beyond +-VALUE_BOUND (a million readings of it still
sum to 1e18, far from float overflow)."""

SENSOR_WORD = 65535.0
"""The widest a 16-bit register (a failing sensor's sentinel) prints; every gauge accepts it."""

OUT_OF_RANGE = "out_of_range"
"""The reason, gateway and hub alike, a reading beyond its accepted range is refused."""


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
    # The accepted range of a reading's value (for a counter: of its increment).
    accept: tuple[float, float] = (-SENSOR_WORD, SENSOR_WORD)

    def in_range(self, value: float) -> bool:
        return self.lo <= value <= self.hi


CHANNELS: dict[str, ChannelSpec] = {
    c.key: c
    for c in (
        ChannelSpec("vwc", "soil volumetric water content", "%", 0, 100, "gauge"),
        ChannelSpec(
            "rain", "rain-gauge bucket tips since boot", "tips", 0, COUNTER_MODULUS - 1,
            "counter", increment_unit="mm", accept=(0, VALUE_BOUND),
        ),
        ChannelSpec("smoke", "smoke / combustible gas concentration", "ppm", 0, 10000, "gauge",
                    accept=(-SENSOR_WORD, 1e7)),
        ChannelSpec("temp", "air temperature", "degC", -40, 85, "gauge"),
        ChannelSpec("hum", "relative humidity", "%", 0, 100, "gauge"),
        ChannelSpec(
            "pin", "people counted entering since boot", "persons", 0, COUNTER_MODULUS - 1,
            "counter", increment_unit="persons", accept=(0, VALUE_BOUND),
        ),
        ChannelSpec(
            "pout", "people counted leaving since boot", "persons", 0, COUNTER_MODULUS - 1,
            "counter", increment_unit="persons", accept=(0, VALUE_BOUND),
        ),
        ChannelSpec("ext", "extensometer (ground crack) displacement", "mm", 0, 2000, "gauge",
                    accept=(-1e6, 1e6)),
        ChannelSpec("tilt", "inclinometer tilt", "deg", -90, 90, "gauge"),
        ChannelSpec("tilt_y", "inclinometer tilt, second axis", "deg", -90, 90, "gauge"),
        ChannelSpec("ec", "soil electrical conductivity", "uS/cm", 0, 20000, "gauge",
                    accept=(-SENSOR_WORD, 1e7)),
        ChannelSpec("level", "water level (stage)", "m", -10, 100, "gauge"),
        ChannelSpec("batt", "battery voltage", "V", 0, 30, "gauge"),
        ChannelSpec("rssi", "radio signal strength", "dBm", -150, 0, "gauge"),
    )
}

COUNTER_CHANNELS = frozenset(key for key, spec in CHANNELS.items() if spec.kind == "counter")
"""The cumulative counters (rain tips, people in / out): the gateway turns each into increments."""

# Rain-gauge bucket size when a node's registry entry does not say otherwise (PROTOCOL.md).
DEFAULT_MM_PER_TIP = 0.2

# A key outside the table is kept as an unknown channel, not rejected (PROTOCOL.md).
UNKNOWN_UNIT = ""


def accepted_range(key: str) -> tuple[float, float]:
    """The accepted range of a reading of channel ``key`` (module docstring)."""
    spec = CHANNELS.get(key)
    return (-VALUE_BOUND, VALUE_BOUND) if spec is None else spec.accept


ValueRule = Callable[[float, float | None], str | None]
"""``value_problem`` of one channel: ``(value, raw)`` -> None, or why the reading is refused."""


def value_rule(channel: str) -> ValueRule:
    """The value rules of channel ``channel``, its accepted range looked up once (the hub's
    ingest checks a batch's readings with one of these a channel). The table (``CHANNELS``,
    ``VALUE_BOUND``) is stated once; the check is written twice: here, and inlined in
    ``convert.py``'s ``SampleConverter`` for speed (measured), which a property test holds to
    ``value_problem``."""
    lo, hi = accepted_range(channel)

    def problem(value: float, raw: float | None = None) -> str | None:
        if not lo <= value <= hi:
            return (f"{OUT_OF_RANGE}: value {_shown(value)} of channel {channel!r} is outside "
                    f"its accepted range [{lo:g}, {hi:g}]")
        if raw is not None and not -VALUE_BOUND <= raw <= VALUE_BOUND:
            return f"{OUT_OF_RANGE}: raw {_shown(raw)} is beyond +-{VALUE_BOUND:g}"
        return None

    return problem


def value_problem(channel: str, value: float, raw: float | None = None) -> str | None:
    """None when a reading's value (and raw count) may be stored, else why not
    (``out_of_range: ...``). NaN is never in range."""
    rule = _RULES.get(channel) or value_rule(channel)
    return rule(value, raw)


# Built once: a closure a call cost value_problem 0.10 -> 0.29 us. Unknown channels get theirs
# built per call (their range is the same +-VALUE_BOUND, but the message names the channel).
_RULES: dict[str, ValueRule] = {key: value_rule(key) for key in CHANNELS}


def _shown(number: float) -> str:
    try:
        return f"{number:g}"
    except OverflowError:  # an int too large for a float
        return f"(a {len(str(abs(int(number))))}-digit integer)"


def channel_spec(key: str) -> ChannelSpec | None:
    return CHANNELS.get(key)


def reading_unit(key: str) -> str:
    """The unit a Reading of this channel carries after the gateway's conversion."""
    spec = CHANNELS.get(key)
    if spec is None:
        return UNKNOWN_UNIT
    return spec.increment_unit or spec.unit
