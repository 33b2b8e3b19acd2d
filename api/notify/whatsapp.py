"""WhatsApp channel (Cloud API): an approved template message to a phone number.

``POST {api_base}/{version}/{phone_number_id}/messages`` with a bearer token and
``{"messaging_product": "whatsapp", "to", "type": "template", "template": {"name",
"language": {"code"}, "components": [{"type": "body", "parameters": [...]}]}}``; the
template has five body parameters (level, hazard, site, explanation, time and link).
Success: ``{"messages": [{"id": "wamid..."}]}`` (accepted, not yet delivered: delivery comes
later as a status webhook, not handled yet). Errors: ``{"error": {"message", "code"}}``;
HTTP 429 or the throughput codes (4, 80007, 130429, 131048, 131056) slow the channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from siaga.api.notify.channel import Outgoing, Result, Sent, http_failure
from siaga.api.notify.errors import ChannelError, RateLimited
from siaga.api.notify.settings import ChannelName, WhatsAppSettings

__all__ = ["WhatsAppChannel"]

_RATE_CODES = {4, 80007, 130429, 131048, 131056}
_LANG = {"id": "id", "en": "en_US"}


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

    async def send(self, batch: Sequence[Outgoing]) -> list[Result]:
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
