"""WhatsApp channel (Cloud API): an approved template message to a phone number.

``POST {api_base}/{version}/{phone_number_id}/messages`` with a bearer token and
``{"messaging_product": "whatsapp", "to", "type": "template", "template": {"name",
"language": {"code"}, "components": [{"type": "body", "parameters": [...]}]}}``; the
template has five body parameters (level, hazard, site, explanation, time and link).
Success: ``{"messages": [{"id": "wamid..."}]}`` (accepted: ``sent``). Delivery comes later
as a status webhook (``POST /api/v1/notify/whatsapp/webhook``, signed with the app secret in
``X-Hub-Signature-256``): :func:`statuses` reads it, ``delivered``/``read`` and ``failed``
update the delivery. Errors: ``{"error": {"message", "code"}}``;
HTTP 429 or the throughput codes (4, 80007, 130429, 131048, 131056) slow the channel.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from siaga.api.notify.channel import Done, Outgoing, Result, Sent, http_failure
from siaga.api.notify.errors import ChannelError, RateLimited
from siaga.api.notify.settings import ChannelName, WhatsAppSettings

__all__ = ["WhatsAppChannel", "signature_ok", "statuses"]

_RATE_CODES = {4, 80007, 130429, 131048, 131056}
_LANG = {"id": "id", "en": "en_US"}


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>``."""
    if not header or not header.startswith("sha256="):
        return False
    mac = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, header[7:])


def statuses(doc: Any) -> list[tuple[str, str, str | None]]:
    """(message id, "delivered" | "failed", reason) for each final status in a webhook body;
    ``read`` counts as delivered, ``sent`` says nothing new, anything malformed is skipped."""
    out: list[tuple[str, str, str | None]] = []
    entries = doc.get("entry") if isinstance(doc, Mapping) else None
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, Mapping) else None
            items = value.get("statuses") if isinstance(value, Mapping) else None
            for st in items if isinstance(items, list) else []:
                if not isinstance(st, Mapping) or not isinstance(st.get("id"), str):
                    continue
                status = st.get("status")
                if status in ("delivered", "read"):
                    out.append((st["id"], "delivered", None))
                elif status == "failed":
                    errors = st.get("errors")
                    first = errors[0] if isinstance(errors, list) and errors else {}
                    reason = (f"{first.get('code')} {first.get('title', '')}".strip()
                              if isinstance(first, Mapping) else "failed")
                    out.append((st["id"], "failed", reason[:200]))
    return out


class WhatsAppChannel:
    name: ChannelName = "whatsapp"
    batch_size = 1

    def __init__(self, settings: WhatsAppSettings, client: httpx.AsyncClient) -> None:
        self._url = (f"{settings.api_base.rstrip('/')}/{settings.api_version}/"
                     f"{settings.phone_number_id}/messages")
        self._token = settings.token.get_secret_value()
        self._template = settings.template
        self._timeout = settings.timeout_s
        self._client = client

    async def send(self, batch: Sequence[Outgoing], done: Done | None = None,
                   ) -> list[Result]:
        return [await self._one(m) for m in batch]

    def payload(self, m: Outgoing) -> dict[str, Any]:
        return {
            "messaging_product": "whatsapp", "to": m.address.lstrip("+"), "type": "template",
            "biz_opaque_callback_data": m.key,
            "template": {"name": self._template, "language": {"code": _LANG[m.text.language]},
                         "components": [{"type": "body", "parameters": [
                             {"type": "text", "text": p} for p in m.text.params()]}]},
        }

    async def _one(self, m: Outgoing) -> Result:
        try:
            r = await self._client.post(self._url, json=self.payload(m), timeout=self._timeout,
                                        headers={"Authorization": f"Bearer {self._token}"})
        except httpx.HTTPError as exc:
            return ChannelError(self.name, type(exc).__name__, unreachable=True)
        try:
            doc = r.json()
        except ValueError:
            doc = None
        if r.is_success and isinstance(doc, dict) and doc.get("messages"):
            return Sent(provider_id=str(doc["messages"][0].get("id")))
        err = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(err, dict):
            reason = f"{err.get('code')} {err.get('message', '')}"[:200]
            if err.get("code") in _RATE_CODES or r.status_code == 429:
                return RateLimited(self.name, reason, 60.0)
            return ChannelError(self.name, reason, retry=r.status_code >= 500)
        return http_failure(self.name, r)

    async def aclose(self) -> None:
        return None
