"""The uplink contract (docs/uplink.md): every record a gateway and the hub exchange, stated once.

The gateway encodes these records and the hub validates JSON straight into them (pydantic's
``TypeAdapter`` over these dataclasses, ``api/ingest/body.py``); nothing restates
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

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Protocol

from siaga.firmware_bridge.frame_rules import MAX_SEQ
from siaga.firmware_bridge.json_library import orjson_dumps
from siaga.firmware_bridge.reading import Reading
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
    "BufferedEntry",
    "GatewayState",
    "GatewayStatus",
    "Heartbeat",
    "LossReport",
    "NodeHealth",
    "UplinkAlert",
    "UplinkBatch",
    "UplinkReading",
    "decode_ack",
    "encode",
    "encode_batch",
    "entry_payload",
    "ms",
    "plausible_ms",
    "reading_entry_payload",
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
    """POSIX seconds -> integer milliseconds, the one time form on the uplink."""
    return int(round(ts * 1000))


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


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def encode(record: Any) -> bytes:
    """The one JSON form of any record here (compact UTF-8); ValueError for NaN/infinity."""
    return _dumps(asdict(record)).encode()


# Entries are buffered by the gateway before their row id is known: the buffer keeps their
# JSON without ``id`` and ``backfill`` and ``encode_batch`` splices both in, so a batch of
# 1,000 readings costs string joins, not a parse and re-dump.
_NOT_BUFFERED = ("id", "backfill")


def entry_payload(record: UplinkReading | UplinkAlert) -> str:
    """A record's JSON as the gateway's buffer keeps it (without ``id`` and ``backfill``)."""
    body = asdict(record)
    for key in _NOT_BUFFERED:
        del body[key]
    return _dumps(body)


_string = json.encoder.encode_basestring  # what _dumps (ensure_ascii=False) uses for a str
_BOOL = ("false", "true")
_INFINITY = float("inf")


def _number(x: object) -> str | None:
    """``x`` as ``_dumps`` writes it when it is a plain float or int; None otherwise.
    ValueError for NaN and infinity, as ``_dumps`` (allow_nan=False)."""
    if type(x) is float:
        if x != x or x == _INFINITY or x == -_INFINITY:
            raise ValueError("Out of range float values are not JSON compliant")
        return float.__repr__(x)
    if type(x) is int:
        return int.__repr__(x)
    return None


def reading_entry_payload(r: Reading) -> str:
    """``entry_payload`` of the UplinkReading made from ``r``, built directly because the
    gateway does this for every reading (tests pin it to ``entry_payload`` and to
    ``_dumps``). Raises ValueError for a value JSON cannot carry (NaN, infinity).

    orjson, where installed, writes it: 1.1 against 1.9 us a reading (same machine and
    minute; issue 17). Its bytes are ``_dumps``'s except a float's notation in a few
    ranges (``1e-7`` for ``1e-07``, ``0.00001`` for ``1e-05``): the same value, which is
    all the hub reads (json_library.py; tests pin both). What orjson refuses (an integer
    beyond 64 bits, a lone surrogate, a float subclass) takes the path below.

    Without orjson, written out field by field rather than through the JSON encoder: 4.6
    against 11.7 us a reading (same machine and minute, load ~10; issue 17). Anything but
    a plain str / float / int / None where one is expected takes the encoder's path."""
    if orjson_dumps is not None:
        number, raw_number = r.value, r.raw
        # orjson writes NaN and infinity as null (a float seq too); the path below refuses them.
        if ((type(number) is not float or -_INFINITY < number < _INFINITY)
                and (type(raw_number) is not float or -_INFINITY < raw_number < _INFINITY)
                and type(r.seq) is int):
            try:
                return orjson_dumps({
                    "node": r.node, "channel": r.channel, "value": number, "unit": r.unit,
                    "ts": ms(r.ts), "rx": ms(r.received_at), "seq": r.seq, "src": r.source,
                    "raw": raw_number, "skew": r.clock_skewed, "reset": r.counter_reset,
                    "late": r.late}).decode()
            except TypeError:
                pass
    value, raw, seq = _number(r.value), _number(r.raw), _number(r.seq)
    node, channel, unit, src = r.node, r.channel, r.unit, r.source
    if (value is None or (raw is None and r.raw is not None) or seq is None
            or type(node) is not str or type(channel) is not str or type(unit) is not str
            or type(src) is not str or type(r.clock_skewed) is not bool
            or type(r.counter_reset) is not bool or type(r.late) is not bool):
        return _dumps({
            "node": node, "channel": channel, "value": r.value, "unit": unit,
            "ts": ms(r.ts), "rx": ms(r.received_at), "seq": r.seq, "src": src,
            "raw": r.raw, "skew": r.clock_skewed, "reset": r.counter_reset, "late": r.late,
        })
    return (f'{{"node":{_string(node)},"channel":{_string(channel)},"value":{value},'
            f'"unit":{_string(unit)},"ts":{ms(r.ts)},"rx":{ms(r.received_at)},"seq":{seq},'
            f'"src":{_string(src)},"raw":{"null" if raw is None else raw},'
            f'"skew":{_BOOL[r.clock_skewed]},"reset":{_BOOL[r.counter_reset]},'
            f'"late":{_BOOL[r.late]}}}')


class BufferedEntry(Protocol):
    """A buffered reading or alert: its row id, its ``entry_payload`` and its backfill mark."""

    @property
    def id(self) -> int: ...
    @property
    def payload(self) -> str: ...
    @property
    def backfill(self) -> bool: ...


def _entry_json(e: BufferedEntry) -> str:
    return f'{{"id":{e.id},{e.payload[1:-1]},"backfill":{"true" if e.backfill else "false"}}}'


def encode_batch(
    gateway: str, batch: str, readings: Sequence[BufferedEntry], alerts: Sequence[BufferedEntry],
    loss: LossReport, sent_at_ms: int,
) -> bytes:
    """An UplinkBatch's JSON from buffered entries: the values ``encode`` would give, in the
    same bytes but a float's notation where orjson wrote a reading (reading_entry_payload)."""
    backfill = any(e.backfill for e in readings) or any(e.backfill for e in alerts)
    head = _dumps({
        "v": UPLINK_VERSION, "gateway": gateway, "batch": batch, "sent_at": sent_at_ms,
        "backfill": backfill,
    })
    return (
        f'{head[:-1]},"readings":[{",".join(map(_entry_json, readings))}],'
        f'"alerts":[{",".join(map(_entry_json, alerts))}],"loss":{_dumps(asdict(loss))}}}'
    ).encode()


def decode_ack(payload: bytes | bytearray) -> Ack:
    """An ack message; ValueError when it is not one. Unknown keys are ignored (see Ack)."""
    try:
        obj: Any = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"ack is not JSON: {exc}") from None
    if not isinstance(obj, Mapping):
        raise ValueError("ack is not a JSON object")
    batch, status, reason = obj.get("batch"), obj.get("status"), obj.get("reason")
    if not isinstance(batch, str) or status not in ("stored", "rejected"):
        raise ValueError(f"ack needs a string 'batch' and status stored|rejected: {obj!r:.200}")
    stored, duplicates = obj.get("stored"), obj.get("duplicates")
    return Ack(batch, status, reason if isinstance(reason, str) else None,
               stored if type(stored) is int else None,
               duplicates if type(duplicates) is int else None,
               _rejected_items(obj.get("rejected_items")))


def _rejected_items(raw: Any) -> tuple[ItemRejection, ...]:
    """An ack's ``rejected_items``; ValueError when present but not a list of them (a gateway
    must not delete rows the hub refused because it misread the list)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("ack's rejected_items is not a list")
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ValueError(f"ack's rejected_items holds a non-object: {item!r:.100}")
        kind, index, row, reason = (item.get("kind"), item.get("index"), item.get("id"),
                                    item.get("reason"))
        if (kind not in ("reading", "alert") or type(index) is not int
                or not (row is None or type(row) is int) or not isinstance(reason, str)):
            raise ValueError(f"ack's rejected item is malformed: {item!r:.200}")
        out.append(ItemRejection(kind, index, row, reason))
    return tuple(out)
