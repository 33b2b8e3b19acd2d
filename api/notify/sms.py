"""SMS channel: an HTTP SMS gateway first, the GSM modem when the gateway cannot be reached.

The HTTP gateway contract (most Indonesian SMS gateways take a variant of it; adapt here):
``POST <url>`` with ``Authorization: Bearer <token>`` and JSON ``{"to", "message",
"reference"}`` (reference = the idempotency key); any 2xx is accepted, its JSON ``id`` (if
any) kept; 429 with Retry-After slows the channel; 5xx is retried; other 4xx fail.

Delivery reports come back in the shape of Infobip's SMS delivery report webhook (an
international gateway with a large Indonesian business; others post a variant): ``POST
/api/v1/notify/sms/report`` with HTTP Basic auth whose password is ``report_secret``, JSON
``{"results": [{"messageId", "callbackData", "status": {"groupName", "name", "description"},
"error": {"name", "description"}}]}``. ``callbackData`` is the ``reference`` we sent (our
idempotency key), ``messageId`` the ``id`` the gateway answered: either names the delivery.
Group ``DELIVERED`` marks it delivered; ``UNDELIVERABLE``, ``EXPIRED`` and ``REJECTED`` failed
with the status and error as reason; ``PENDING`` says nothing new. Through the modem, the
GSM network's status reports do the same (api/notify/gsm_modem.py).

Only an unreachable gateway (connection refused, DNS, timeout) sends the message through the
modem instead; a gateway that answers with an error is believed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from siaga.api.notify.channel import Done, Outgoing, Receipt, Result, Sent, http_failure
from siaga.api.notify.errors import ChannelError
from siaga.api.notify.gsm_modem import GsmModem, gsm_text
from siaga.api.notify.settings import ChannelName, SmsSettings

__all__ = ["SmsChannel", "delivery_reports", "sms_text"]


def sms_text(m: Outgoing) -> str:
    """Short enough for one SMS: the subject line, the time and the link."""
    t = m.text
    return gsm_text(f"{t.subject}\n{t.time}\n{t.link}")


_FAILED_GROUPS = ("UNDELIVERABLE", "EXPIRED", "REJECTED")


def delivery_reports(doc: Any) -> list[Receipt]:
    """The final receipts in a delivery-report body (Infobip's shape); anything malformed,
    and reports still pending, are skipped."""
    out: list[Receipt] = []
    results = doc.get("results") if isinstance(doc, Mapping) else None
    for r in results if isinstance(results, list) else []:
        if not isinstance(r, Mapping):
            continue
        ident, key = r.get("messageId"), r.get("callbackData")
        ident = ident if isinstance(ident, str) and ident else None
        key = key if isinstance(key, str) and key else None
        status = r.get("status")
        group = status.get("groupName") if isinstance(status, Mapping) else None
        if (ident is None and key is None) or not isinstance(group, str):
            continue
        if group == "DELIVERED":
            out.append((ident, "delivered", None, key))
        elif group in _FAILED_GROUPS:
            error = r.get("error")
            parts = [str(status.get("name") or group)]  # type: ignore[union-attr]
            if isinstance(error, Mapping) and error.get("name") not in (None, "NO_ERROR"):
                parts.append(f"{error.get('name')}: {error.get('description', '')}".strip())
            out.append((ident, "failed", "; ".join(parts)[:200], key))
    return out


class SmsChannel:
    name: ChannelName = "sms"
    batch_size = 1

    def __init__(self, settings: SmsSettings, client: httpx.AsyncClient) -> None:
        self._http = settings.http
        self._modem = GsmModem(settings.modem) if settings.modem is not None else None
        self._modem_settings_reports = settings.modem is not None and settings.modem.status_reports
        self._client = client

    async def send(self, batch: Sequence[Outgoing], done: Done | None = None,
                   ) -> list[Result]:
        results: list[Result | None] = [None] * len(batch)
        for i, m in enumerate(batch):
            if self._http is not None:
                results[i] = await self._via_http(m)
        fallback = [i for i, r in enumerate(results)
                    if r is None or (isinstance(r, ChannelError) and r.unreachable)]
        if fallback and self._modem is not None:
            sent = await asyncio.to_thread(
                self._modem.send, [(batch[i].address, sms_text(batch[i])) for i in fallback])
            for i, r in zip(fallback, sent, strict=True):
                results[i] = Sent(provider_id=f"modem:{r}") if isinstance(r, str) else r
        return [r if r is not None else ChannelError(self.name, "no SMS route")
                for r in results]

    async def _via_http(self, m: Outgoing) -> Result:
        assert self._http is not None
        headers = {}
        if self._http.token is not None:
            headers["Authorization"] = f"Bearer {self._http.token.get_secret_value()}"
        try:
            r = await self._client.post(
                self._http.url, json={"to": m.address, "message": sms_text(m),
                                      "reference": m.key},
                headers=headers, timeout=self._http.timeout_s)
        except httpx.HTTPError as exc:
            return ChannelError(self.name, f"gateway: {type(exc).__name__}", unreachable=True)
        if not r.is_success:
            return http_failure(self.name, r)
        try:
            doc = r.json()
        except ValueError:
            doc = None
        ident = doc.get("id") if isinstance(doc, dict) else None
        return Sent(provider_id=str(ident) if ident is not None else None)

    @property
    def has_receipts(self) -> bool:
        """Whether the modem's status reports are listened for (api/notify/service.py)."""
        return self._modem is not None and self._modem_settings_reports

    async def poll_receipts(self) -> list[Receipt]:
        assert self._modem is not None
        heard = await asyncio.to_thread(self._modem.read_reports, 1.0)
        return [(f"modem:{ref}", status, reason, None) for ref, status, reason in heard]

    async def aclose(self) -> None:
        if self._modem is not None:
            await asyncio.to_thread(self._modem.close)
