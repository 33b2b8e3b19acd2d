"""From request/message bytes to wire models: size limits, gzip, JSON, validation (pure)."""

from __future__ import annotations

import zlib
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from siaga.api.ingest.errors import BatchTooLarge, InvalidBatch, MalformedBatch
from siaga.api.ingest.settings import IngestSettings
from siaga.api.ingest.wire import Batch, HeartbeatIn

__all__ = ["MAX_LISTED_ERRORS", "decode_body", "parse_batch", "parse_heartbeat", "parse_wire"]

# A 5,000-reading batch that is wrong everywhere would list 5,000 errors; the first few say it.
MAX_LISTED_ERRORS = 20

M = TypeVar("M", bound=BaseModel)


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


def parse_wire(model: type[M], body: bytes, what: str) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise MalformedBatch(f"{what} is not valid JSON: {errors[0]['msg']}") from None
        if errors and not errors[0]["loc"] and errors[0]["type"] == "model_type":
            raise MalformedBatch(f"{what} must be a JSON object") from None
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidBatch(
            f"{what} is invalid ({exc.error_count()} errors); first: {where}: {first['msg']}",
            errors=_errors(exc), error_count=exc.error_count(),
        ) from None


def parse_batch(body: bytes) -> Batch:
    return parse_wire(Batch, body, "batch")


def parse_heartbeat(body: bytes) -> HeartbeatIn:
    return parse_wire(HeartbeatIn, body, "heartbeat")
