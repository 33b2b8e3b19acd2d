"""The uplink records' JSON (docs/uplink.md): ``encode`` gives any record's one JSON form, the
gateway's buffer keeps an entry's JSON without its row id (``entry_payload``,
``reading_entry_payload``) and ``encode_batch`` splices the ids into a batch, and
``decode_ack`` reads the hub's answer. The records themselves are ``uplink.py``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any, Protocol

from siaga.firmware_bridge.json_library import orjson_dumps
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.uplink import (
    UPLINK_VERSION,
    Ack,
    ItemRejection,
    LossReport,
    UplinkAlert,
    UplinkReading,
    ms,
)

__all__ = [
    "BufferedEntry",
    "decode_ack",
    "encode",
    "encode_batch",
    "entry_payload",
    "reading_entry_payload",
]

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _utf8(text: str) -> str:
    """``text`` unchanged, or ValueError (UnicodeEncodeError) for a lone surrogate: the JSON
    encoder writes one as it is, and neither the buffer's SQLite nor the hub's UTF-8 can
    carry it (the buffer refuses such an entry by itself instead of failing its commit)."""
    if not text.isascii():
        text.encode()
    return text


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
    return _utf8(_dumps(body))


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
    ``_dumps``). Raises ValueError for a value JSON cannot carry (NaN, infinity, a lone
    surrogate).

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
        return _utf8(_dumps({
            "node": node, "channel": channel, "value": r.value, "unit": unit,
            "ts": ms(r.ts), "rx": ms(r.received_at), "seq": r.seq, "src": src,
            "raw": r.raw, "skew": r.clock_skewed, "reset": r.counter_reset, "late": r.late,
        }))
    return _utf8(
        f'{{"node":{_string(node)},"channel":{_string(channel)},"value":{value},'
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
