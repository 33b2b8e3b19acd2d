"""The uplink contract (docs/uplink.md): every record a gateway and the hub exchange, stated once.

The gateway encodes these records (``uplink_codec.py``: their JSON, the buffer's entry form, a
batch from buffered entries, the ack's decoding) and the hub validates JSON straight into them
(pydantic's ``TypeAdapter`` over these dataclasses, ``api/ingest/body.py``); nothing restates
them. Each record has one JSON form: its field names are the JSON keys.

Times are integer milliseconds since the epoch, UTC, on the whole uplink; the one conversion
from the gateway's POSIX seconds is ``ms``.

Validation policy, for the hub (the gateway produces valid records by construction):

- ``__pydantic_config__``: a field the contract does not name is an error; no coercion (``"42"``
  is not an int, ``true`` is not a number, ``1.5`` is not a time; a JSON integer is a float);
  every number is finite.
- ``Bounds`` in a field's ``Annotated`` type are the field's limits. They are plain data here
  (this package is stdlib only) and pydantic applies them through
  ``__get_pydantic_core_schema__``, so pydantic-core checks a batch of 5,000 readings without
  calling Python per reading.
- Times lie in [2000-01-01, 2100-01-01), except an item's own times (a reading's ``ts`` and
  ``rx``, an alert's ``ts``): those are any non-negative millisecond count, because a node or
  gateway clock gone wrong must not cost the value. The hub replaces an impossible one
  (``plausible_ms``; docs/uplink.md, "Impossible times"). ``seq`` is a node's 0..65535 frame
  counter.
- A batch is accepted item by item: an item that fails its record's rules is answered in the
  ack's ``rejected_items`` (index, row id, reason) and the rest are stored.
- Identifiers (gateway, node, channel, site, detector) are 1-128 characters without control
  characters or backslashes, so they can become InfluxDB tags (docs/telemetry.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from siaga.firmware_bridge.frame_rules import MAX_SEQ
from siaga.firmware_bridge.vocabulary import Hazard, Level

__all__ = [
    "IDENT_MAX_LENGTH",
    "IDENT_PATTERN",
    "ItemKind",
    "ItemRejection",
    "MS_MAX",
    "MS_MIN",
    "UPLINK_VERSION",
    "Ack",
    "AckStatus",
    "Bounds",
    "BufferHealth",
    "GatewayState",
    "GatewayStatus",
    "Heartbeat",
    "LossReport",
    "NodeHealth",
    "UplinkAlert",
    "UplinkBatch",
    "UplinkReading",
    "ms",
    "plausible_ms",
]

UPLINK_VERSION: Literal[1] = 1

MS_MIN = 946_684_800_000  # 2000-01-01T00:00:00Z
MS_MAX = 4_102_444_800_000  # 2100-01-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class Bounds:
    """One field's limits, as data; the hub's validator applies them (core schema keys)."""

    ge: float | None = None
    lt: int | None = None
    le: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], Any]) -> Any:
        schema = handler(source)
        for key in ("ge", "lt", "le", "min_length", "max_length", "pattern"):
            value = getattr(self, key)
            if value is not None:
                schema[key] = value
        return schema


EpochMs = Annotated[int, Bounds(ge=MS_MIN, lt=MS_MAX)]
# An item's own time: any millisecond count JSON and InfluxDB carry; plausible_ms judges it.
ItemMs = Annotated[int, Bounds(ge=0, lt=2**53)]
IDENT_PATTERN = r"^[^\x00-\x1f\x7f\\]+$"
IDENT_MAX_LENGTH = 128
Ident = Annotated[str, Bounds(min_length=1, max_length=IDENT_MAX_LENGTH,
                              pattern=IDENT_PATTERN)]
Text = Annotated[str, Bounds(max_length=4096)]
Count = Annotated[int, Bounds(ge=0, lt=2**63)]
Seq = Annotated[int, Bounds(ge=0, le=MAX_SEQ)]
NonNegative = Annotated[float, Bounds(ge=0)]
# A level's number on the national scale (pydantic would coerce "3" or true into an IntEnum).
LevelNumber = Annotated[int, Bounds(ge=min(Level), le=max(Level))]
BatchId = Annotated[str, Bounds(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]

# pydantic reads this from each record (a ConfigDict is a plain dict).
_STRICT: dict[str, Any] = {"extra": "forbid", "strict": True, "allow_inf_nan": False}


def ms(ts: float) -> int:
    """POSIX seconds -> integer milliseconds, the one time form on the uplink.

    ``round`` of a float is already an int (no ``int()`` around it: 0.16 -> 0.12 us, and the
    gateway calls it twice for every reading it buffers; issue 17)."""
    return round(ts * 1000)


def plausible_ms(t: int, horizon_ms: int) -> bool:
    """Whether an item's time can be true: in [2000, 2100) and not after ``horizon_ms``
    (the receiver's clock plus the future skew it allows)."""
    return MS_MIN <= t < min(MS_MAX, horizon_ms + 1)


@dataclass(frozen=True, slots=True)
class UplinkReading:
    """One reading. Its identity is ``(gateway, node, channel, ts, seq)``.

    ``ts`` is the reading's time (the node's own when trusted), ``rx`` the gateway's receive
    time; ``skew`` marks a node clock that was off (``ts`` is then corrected by the node's
    estimated offset), ``reset`` a counter that restarted, ``late`` a reading that reached
    the gateway well after ``ts`` (a node's stored backlog; it keeps its time).
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT

    id: Count  # the gateway buffer's row id
    node: Ident
    channel: Ident
    value: float
    unit: Annotated[str, Bounds(max_length=32)]
    ts: ItemMs
    rx: ItemMs
    seq: Seq
    src: Annotated[str, Bounds(max_length=256)]
    raw: float | None = None
    skew: bool = False
    reset: bool = False
    late: bool = False
    backfill: bool = False


@dataclass(frozen=True, slots=True)
class UplinkAlert:
    """One alert (a detector's level change); identity ``(gateway, node, detector, ts, level)``.

    ``channels`` and ``nodes`` name every input behind it (a landslide alert: the rain,
    vwc, ext and tilt channels it had, and the site's rain gauge when that node is
    another); ``late`` marks an alert raised on late readings (its ``ts`` is their time).
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT

    id: Count
    node: Ident
    hazard: Hazard
    level: LevelNumber
    previous_level: LevelNumber
    detector: Ident
    ts: ItemMs
    explanation: Text
    explanation_en: Text
    site: Ident | None = None
    channel: Ident | None = None
    values: dict[Ident, float] = field(default_factory=dict)
    thresholds: dict[Ident, float] = field(default_factory=dict)
    window_s: NonNegative = 0.0
    channels: tuple[Ident, ...] = ()
    nodes: tuple[Ident, ...] = ()
    late: bool = False
    backfill: bool = False


@dataclass(frozen=True, slots=True)
class LossReport:
    """What the gateway's buffer dropped when full: cumulative count, time of the first drop."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT

    dropped_readings: Count = 0
    dropped_since: ItemMs | None = None


@dataclass(frozen=True, slots=True)
class UplinkBatch:
    """One uplink batch. ``readings``/``alerts`` may be omitted when empty; ``loss`` too."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT

    v: Literal[1]
    gateway: Ident
    batch: BatchId
    sent_at: ItemMs
    backfill: bool = False
    readings: tuple[UplinkReading, ...] = ()
    alerts: tuple[UplinkAlert, ...] = ()
    loss: LossReport = LossReport()


@dataclass(frozen=True, slots=True)
class BufferHealth:
    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT

    depth: Count
    alerts: Count
    oldest_age_s: NonNegative | None = None
    dropped_readings: Count = 0
    bytes: Count = 0


@dataclass(frozen=True, slots=True)
class NodeHealth:
    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT

    last_seen: EpochMs | None = None
    frames_ok: Count = 0
    gaps: Count = 0
    # The node's estimated clock offset in seconds (positive: behind ours); see
    # firmware_bridge/clock_offset.py. None for a node that sends no time.
    clock_offset_s: float | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A gateway's periodic health report (``siaga/gw/<id>/heartbeat`` or ``POST /heartbeat``)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT

    v: Literal[1]
    gateway: Ident
    ts: EpochMs
    uptime_s: NonNegative
    buffer: BufferHealth
    nodes: dict[Ident, NodeHealth] = field(default_factory=dict)
    cpu_temp_c: float | None = None
    disk_free_bytes: Count | None = None


GatewayState = Literal["online", "offline"]


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """The retained ``siaga/gw/<id>/status`` message (and the gateway's last will, without ts)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT

    state: GatewayState
    ts: EpochMs | None = None


AckStatus = Literal["stored", "rejected"]
ItemKind = Literal["reading", "alert"]


@dataclass(frozen=True, slots=True)
class ItemRejection:
    """One item of a stored batch that the hub refused: which list, its index there, its
    buffer row ``id`` (None when the item was too broken to carry one) and why."""

    kind: ItemKind
    index: int
    id: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Ack:
    """The hub's answer to a batch: the MQTT ``.../ack`` message and the HTTP ``200`` body.

    ``stored`` means every item of the batch is settled: stored, except those listed in
    ``rejected_items``, which can never be stored as sent (the gateway keeps them, with their
    reason, in its ``rejected`` table). ``stored``/``duplicates`` count the stored readings.
    ``rejected`` refuses the whole batch (``reason`` says why: unreadable, wrong gateway).
    Readers ignore keys they do not know.
    """

    batch: str
    status: AckStatus
    reason: str | None = None
    stored: int | None = None
    duplicates: int | None = None
    rejected_items: tuple[ItemRejection, ...] = ()
