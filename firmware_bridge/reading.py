"""The Reading record: one value of one channel of one node, as the gateway understood it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from siaga.firmware_bridge.slot_records import slots_twin

READING_SCHEMA_VERSION = 1

SourceKind = Literal["serial", "mqtt", "replay"]


@dataclass(frozen=True, slots=True)
class Reading:
    """One channel value.

    Times are POSIX seconds (UTC). ``ts`` is when the value was measured: the node's
    own timestamp when its clock agrees with ours (its estimated offset within the
    clock-skew bound), the node's timestamp corrected by that offset when it does not
    (``clock_skewed``; the node's own time stays in ``node_ts``), ``received_at`` when
    the node gave no time. ``late`` marks a reading that reached the gateway more than
    the bound after ``ts`` (a backlog a node stored while offline): it keeps its time.
    See firmware_bridge/clock_offset.py and docs/detectors.md.

    Counter channels (rain, pin, pout) carry the increment since the previous frame in
    ``value`` (mm of rain, persons), and the raw cumulative count in ``raw``.
    """

    node: str
    channel: str
    value: float
    unit: str
    ts: float
    received_at: float
    seq: int
    source: str  # "serial:/dev/ttyUSB0", "mqtt", ...
    raw: float | None = None
    node_ts: float | None = None
    clock_skewed: bool = False
    counter_reset: bool = False
    late: bool = False

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = "reading"
        d["v"] = READING_SCHEMA_VERSION
        d["ts"] = iso_utc(self.ts)
        d["received_at"] = iso_utc(self.received_at)
        if self.node_ts is not None:
            d["node_ts"] = iso_utc(self.node_ts)
        return d


def new_reading(
    node: str, channel: str, value: float, unit: str, ts: float, received_at: float, seq: int,
    source: str, raw: float | None, node_ts: float | None, clock_skewed: bool,
    counter_reset: bool, late: bool,
) -> Reading:
    """``Reading(...)`` with every field given, filled in a twin of its slots
    (firmware_bridge/slot_records.py): the converter makes one per channel of every sample.
    tests/unit/firmware_bridge/test_reading.py pins it to ``Reading(...)``, field for field."""
    r = _ReadingSlots()
    r.node = node
    r.channel = channel
    r.value = value
    r.unit = unit
    r.ts = ts
    r.received_at = received_at
    r.seq = seq
    r.source = source
    r.raw = raw
    r.node_ts = node_ts
    r.clock_skewed = clock_skewed
    r.counter_reset = counter_reset
    r.late = late
    r.__class__ = Reading
    made: Reading = r
    return made


_ReadingSlots = slots_twin(Reading)
if _ReadingSlots is None:  # this CPython refuses the twin: Reading's own constructor
    new_reading = Reading


def iso_utc(ts: float) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, the one time format on our wires."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
