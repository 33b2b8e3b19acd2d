"""From request/message bytes to uplink records: size limits, gzip, JSON, validation (pure).

The records are ``firmware_bridge.uplink``'s dataclasses; pydantic validates JSON straight into
them through a ``TypeAdapter`` (their bounds and strictness are declared there), and a refusal
lists every bad field as problem+json ``errors``.

A batch is accepted item by item (docs/uplink.md): when the only errors are inside readings or
alerts, those items are answered as ``ItemRejection``s and the rest are validated again
without them. The whole batch is refused only when its envelope is wrong.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter, ValidationError

from siaga.api.ingest.errors import BatchTooLarge, InvalidBatch, MalformedBatch
from siaga.api.ingest.settings import IngestSettings
from siaga.firmware_bridge.uplink import (
    GatewayStatus,
    Heartbeat,
    ItemKind,
    ItemRejection,
    UplinkBatch,
)

__all__ = ["MAX_LISTED_ERRORS", "ParsedBatch", "decode_body", "parse_batch", "parse_heartbeat",
           "parse_status", "parse_uplink"]

# A 5,000-reading batch that is wrong everywhere would list 5,000 errors; the first few say it.
MAX_LISTED_ERRORS = 20

R = TypeVar("R")

_BATCH = TypeAdapter(UplinkBatch)
_HEARTBEAT = TypeAdapter(Heartbeat)
_STATUS = TypeAdapter(GatewayStatus)


def decode_body(raw: bytes, content_encoding: str | None, limits: IngestSettings) -> bytes:
    """The JSON bytes of a body, gzip-decoded when so encoded, within the configured limits."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        if len(raw) > limits.max_batch_bytes:
            raise BatchTooLarge(f"body of {len(raw)} bytes is over the limit of "
                                f"{limits.max_batch_bytes}", limit=limits.max_batch_bytes)
        return raw
    if encoding not in ("gzip", "x-gzip"):
        raise MalformedBatch(f"unsupported Content-Encoding {content_encoding!r} (gzip or none)")
    if len(raw) > limits.max_compressed_bytes:
        raise BatchTooLarge(f"gzip body of {len(raw)} bytes is over the limit of "
                            f"{limits.max_compressed_bytes}", limit=limits.max_compressed_bytes)
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limits.max_batch_bytes + 1)
    except zlib.error as e:
        raise MalformedBatch(f"broken gzip body: {e}") from e
    if len(out) > limits.max_batch_bytes or inflater.unconsumed_tail:
        raise BatchTooLarge(f"gzip body inflates past the limit of {limits.max_batch_bytes} "
                            "bytes", limit=limits.max_batch_bytes)
    if not inflater.eof:
        raise MalformedBatch("truncated gzip body")
    return out


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)[:MAX_LISTED_ERRORS]
    ]


def parse_uplink(adapter: TypeAdapter[R], body: bytes, what: str) -> R:
    """One uplink record from JSON bytes; MalformedBatch or InvalidBatch (every bad field)."""
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise MalformedBatch(f"{what} is not valid JSON: {errors[0]['msg']}") from None
        if errors and not errors[0]["loc"] and errors[0]["type"] == "dataclass_type":
            raise MalformedBatch(f"{what} must be a JSON object") from None
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidBatch(
            f"{what} is invalid ({exc.error_count()} errors); first: {where}: {first['msg']}",
            errors=_errors(exc), error_count=exc.error_count(),
        ) from None


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """A batch's valid items, and the items refused (indices into the batch as sent)."""

    batch: UplinkBatch
    rejected: tuple[ItemRejection, ...] = ()


_ITEM_LISTS: dict[Any, ItemKind] = {"readings": "reading", "alerts": "alert"}


def parse_batch(body: bytes) -> ParsedBatch:
    """A batch, item by item: MalformedBatch/InvalidBatch only when its envelope is wrong."""
    try:
        return ParsedBatch(_BATCH.validate_json(body))
    except ValidationError as exc:
        bad = _bad_items(exc.errors(include_url=False, include_input=False))
        if bad is None:
            parse_uplink(_BATCH, body, "batch")  # raises the whole-batch refusal
            raise AssertionError("unreachable") from None
    try:  # pydantic parsed it, but Python's json has limits of its own (4,300-digit ints)
        doc = cast(dict[str, Any], json.loads(body))
    except (ValueError, RecursionError) as e:
        raise MalformedBatch(f"batch is not readable JSON: {e}") from None
    rejected = []
    for key, kind in _ITEM_LISTS.items():
        items = doc.get(key)
        if not isinstance(items, list):
            continue
        keep = []
        for i, item in enumerate(items):
            reason = bad.get((key, i))
            if reason is None:
                keep.append(item)
                continue
            row = item.get("id") if isinstance(item, dict) else None
            rejected.append(ItemRejection(kind, i, row if type(row) is int else None, reason))
        doc[key] = keep
    batch = parse_uplink(_BATCH, json.dumps(doc).encode(), "batch")
    return ParsedBatch(batch, tuple(rejected))


def _bad_items(errors: Sequence[Any]) -> dict[tuple[str, int], str] | None:
    """(list, index) -> the first error of each bad item; None when an error is outside
    the items (the batch itself is wrong)."""
    bad: dict[tuple[str, int], str] = {}
    for e in errors:
        loc = e["loc"]
        if len(loc) < 2 or loc[0] not in _ITEM_LISTS or type(loc[1]) is not int:
            return None
        where = ".".join(str(p) for p in loc[2:]) or "item"
        bad.setdefault((loc[0], loc[1]), f"{where}: {e['msg']} ({e['type']})")
    return bad


def parse_heartbeat(body: bytes) -> Heartbeat:
    return parse_uplink(_HEARTBEAT, body, "heartbeat")


def parse_status(body: bytes) -> GatewayStatus:
    return parse_uplink(_STATUS, body, "status")
