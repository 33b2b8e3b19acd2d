"""From request/message bytes to uplink records: size limits, gzip, JSON, validation (pure).

The records are ``firmware_bridge.uplink``'s dataclasses; pydantic validates JSON straight into
them through a ``TypeAdapter`` (their bounds and strictness are declared there), and a refusal
lists every bad field as problem+json ``errors``.
"""

from __future__ import annotations

import zlib
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from siaga.api.ingest.errors import BatchTooLarge, InvalidBatch, MalformedBatch
from siaga.api.ingest.settings import IngestSettings
from siaga.firmware_bridge.uplink import GatewayStatus, Heartbeat, UplinkBatch

__all__ = ["MAX_LISTED_ERRORS", "decode_body", "parse_batch", "parse_heartbeat", "parse_status",
           "parse_uplink"]

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


def parse_batch(body: bytes) -> UplinkBatch:
    return parse_uplink(_BATCH, body, "batch")


def parse_heartbeat(body: bytes) -> Heartbeat:
    return parse_uplink(_HEARTBEAT, body, "heartbeat")


def parse_status(body: bytes) -> GatewayStatus:
    return parse_uplink(_STATUS, body, "status")
