"""Webhook channel: the notice as JSON, signed with HMAC-SHA256, timestamped against replay.

Request: ``POST <url>`` with ``Content-Type: application/json`` and

- ``X-Siaga-Timestamp``: POSIX seconds when the hub signed it;
- ``X-Siaga-Signature``: ``sha256=`` + hex HMAC-SHA256 over ``"<timestamp>." + body``;
- ``Idempotency-Key``: the delivery's key (the same on a resend after a restart).

A receiver checks the signature and that the timestamp is recent (:func:`verify`), and keeps
the keys it has seen for longer than that window. Any 2xx is success; 429 (with Retry-After)
slows the channel; 408 and 5xx are retried; other 4xx fail the delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence

import httpx

from siaga.api.notify.channel import Done, Outgoing, Result, Sent, http_failure
from siaga.api.notify.errors import ChannelError
from siaga.api.notify.settings import ChannelName, WebhookSettings

__all__ = ["WebhookChannel", "body_for", "sign", "verify"]

TIMESTAMP_HEADER = "X-Siaga-Timestamp"
SIGNATURE_HEADER = "X-Siaga-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float,
           tolerance_s: float = 300) -> bool:
    """What a receiver does: the signature matches and the timestamp is within tolerance."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def body_for(m: Outgoing) -> bytes:
    t = m.text
    doc = {"id": m.key, "incident": m.incident_id, "report": m.report_id,
           "kind": m.kind, "level": m.level,
           "level_name": t.level_name, "hazard": t.hazard_name, "site": t.site,
           "explanation": t.explanation, "time": t.time, "link": t.link,
           "language": t.language, "subject": t.subject, "text": t.body}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


class WebhookChannel:
    name: ChannelName = "webhook"
    batch_size = 1

    def __init__(self, settings: WebhookSettings, client: httpx.AsyncClient) -> None:
        self._secret = settings.secret.get_secret_value()
        self._timeout = settings.timeout_s
        self._client = client

    async def send(self, batch: Sequence[Outgoing], done: Done | None = None,
                   ) -> list[Result]:
        return [await self._one(m) for m in batch]

    async def _one(self, m: Outgoing) -> Result:
        body = body_for(m)
        ts = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(ts),
                   SIGNATURE_HEADER: sign(self._secret, ts, body), "Idempotency-Key": m.key}
        try:
            r = await self._client.post(m.address, content=body, headers=headers,
                                        timeout=self._timeout)
        except httpx.HTTPError as exc:
            return ChannelError(self.name, f"{type(exc).__name__}: {exc}", unreachable=True)
        if r.is_success:
            return Sent()
        return http_failure(self.name, r)

    async def aclose(self) -> None:
        return None
