"""Errors of the ingest pipeline; each is also the hub error that answers it over HTTP.

    BatchRejected (mixin)          the batch can never be stored as sent: MQTT answers
    │                              ``{"status": "rejected", "reason": ...}``, the gateway moves
    │                              the rows to its ``rejected`` table and never retries them
    ├── MalformedBatch             400 not JSON, not UTF-8, broken gzip
    ├── BatchTooLarge              413 over ``ingest.max_batch_bytes`` (after gzip decoding)
    ├── InvalidBatch               422 parsed, but fails docs/uplink.md or the hub's checks
    │                              (``errors`` lists every bad field)
    └── GatewayMismatch            403 the batch names another gateway than its credentials

    IngestUnavailable              503 a store failed; nothing is acknowledged, the gateway
                                   keeps the rows and retries (MQTT: no ack is sent)

Each subclasses the matching ``api.errors`` class, so the one problem+json handler renders it.
"""

from __future__ import annotations

from typing import Any

from siaga.api.errors import BadRequest, Forbidden, InvalidInput, PayloadTooLarge, Unavailable

__all__ = [
    "BatchRejected",
    "BatchTooLarge",
    "GatewayMismatch",
    "IngestUnavailable",
    "InvalidBatch",
    "MalformedBatch",
]


class BatchRejected(Exception):
    """Mixin marking errors that make a batch permanently unstorable."""

    detail: str


class MalformedBatch(BatchRejected, BadRequest):
    title = "Malformed batch"


class BatchTooLarge(BatchRejected, PayloadTooLarge):
    title = "Batch too large"


class InvalidBatch(BatchRejected, InvalidInput):
    title = "Invalid batch"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None,
                 **extra: Any) -> None:
        if errors is not None:
            extra["errors"] = errors
        super().__init__(detail, **extra)


class GatewayMismatch(BatchRejected, Forbidden):
    title = "Wrong gateway"


class IngestUnavailable(Unavailable):
    title = "Not stored"
