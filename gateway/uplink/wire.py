"""The uplink wire form (docs/uplink.md): entry payloads and batch bodies, pure.

An entry is stored in the buffer as compact JSON *without* its ``id`` and
``backfill`` fields; ``encode_batch`` splices those in when the batch is built,
so a batch of 1,000 readings costs string joins, not a parse and re-dump.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.reading import Reading

WIRE_VERSION = 1

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def ms(ts: float) -> int:
    """POSIX seconds -> integer milliseconds, the one time form on the uplink."""
    return int(round(ts * 1000))


def reading_payload(r: Reading) -> str:
    """Raises ValueError for a value JSON cannot carry (NaN, infinity)."""
    return _dumps({
        "node": r.node, "channel": r.channel, "value": r.value, "unit": r.unit,
        "ts": ms(r.ts), "rx": ms(r.received_at), "seq": r.seq, "src": r.source,
        "raw": r.raw, "skew": r.clock_skewed, "reset": r.counter_reset,
    })


def alert_payload(a: Alert) -> str:
    return _dumps({
        "node": a.node, "site": a.site, "hazard": a.hazard, "level": int(a.level),
        "previous_level": int(a.previous_level), "detector": a.detector,
        "channel": a.channel, "ts": ms(a.ts), "explanation": a.explanation_id,
        "explanation_en": a.explanation_en, "values": a.values,
        "thresholds": a.thresholds, "window_s": a.window_s,
    })


@dataclass(frozen=True, slots=True)
class Entry:
    """One buffered row as the uplink sends it."""

    id: int
    payload: str  # compact JSON object without id and backfill
    enqueued_at_ms: int
    backfill: bool


@dataclass(frozen=True, slots=True)
class Loss:
    dropped_readings: int
    dropped_since_ms: int | None


def _entry_json(e: Entry) -> str:
    return f'{{"id":{e.id},{e.payload[1:-1]},"backfill":{"true" if e.backfill else "false"}}}'


def encode_batch(
    gateway: str, batch: str, readings: Sequence[Entry], alerts: Sequence[Entry],
    loss: Loss, sent_at_ms: int,
) -> bytes:
    backfill = any(e.backfill for e in readings) or any(e.backfill for e in alerts)
    head = _dumps({
        "v": WIRE_VERSION, "gateway": gateway, "batch": batch, "sent_at": sent_at_ms,
        "backfill": backfill,
    })
    tail = _dumps({"dropped_readings": loss.dropped_readings,
                   "dropped_since": loss.dropped_since_ms})
    return (
        f'{head[:-1]},"readings":[{",".join(map(_entry_json, readings))}],'
        f'"alerts":[{",".join(map(_entry_json, alerts))}],"loss":{tail}}}'
    ).encode()


def decode_ack(payload: bytes | bytearray) -> tuple[str, str, str | None]:
    """``(batch, status, reason)`` of an ack message; ValueError when it is not one."""
    try:
        obj: Any = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"ack is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError("ack is not a JSON object")
    batch, status, reason = obj.get("batch"), obj.get("status"), obj.get("reason")
    if not isinstance(batch, str) or status not in ("stored", "rejected"):
        raise ValueError(f"ack needs a string 'batch' and status stored|rejected: {obj!r:.200}")
    return batch, status, reason if isinstance(reason, str) else None

