"""Telegram channel (Bot API): a message to a person's chat or a group, with buttons.

One message per incident and chat where the Bot API allows: a later change of the same
incident that needs no new alert (a level raised below Awas, a resolution) edits the message
already in the chat (``editMessageText``, its buttons kept, or removed on a resolution)
instead of sending another. An edit makes no sound on the phone, so whatever must wake
someone (a new or reopened incident, Awas, an escalation) is a new message. If the message
can no longer be edited (deleted, too old in a group the bot left, "message to edit not
found"), a new one is sent; "message is not modified" counts as delivered.

``sendMessage`` carries an inline keyboard, *Tanggapi* (acknowledge) and *Kirim tim*
(dispatch), whose ``callback_data`` is ``ack:<incident>`` / ``dispatch:<incident>``; Telegram
posts the press to the hub's webhook (api/notify/telegram_updates.py), which acts as the
staff account linked to the pressing user. A successful ``sendMessage`` returns the message
in the chat, so it counts as delivered. Errors: ``{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}``; 429 slows the channel, 400/403 (chat not found, bot
blocked) fail the delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from siaga.api.notify.channel import Done, Outgoing, Result, Sent
from siaga.api.notify.errors import ChannelError, RateLimited
from siaga.api.notify.settings import ChannelName, TelegramSettings
from siaga.firmware_bridge.vocabulary import Level

__all__ = ["BUTTONS", "TelegramApi", "TelegramChannel"]

BUTTONS = {"id": ("Tanggapi", "Kirim tim"), "en": ("Acknowledge", "Send team")}


class TelegramApi:
    """The few Bot API methods the hub calls."""

    def __init__(self, settings: TelegramSettings, client: httpx.AsyncClient) -> None:
        self._base = f"{settings.api_base.rstrip('/')}/bot{settings.token.get_secret_value()}"
        self._timeout = settings.timeout_s
        self._client = client

    async def call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            r = await self._client.post(f"{self._base}/{method}", json=payload,
                                        timeout=self._timeout)
        except httpx.HTTPError as exc:
            # The URL holds the bot token: never put the exception's URL in a reason.
            raise ChannelError("telegram", type(exc).__name__, unreachable=True) from None
        try:
            doc = r.json()
        except ValueError:
            doc = {}
        if r.is_success and isinstance(doc, dict) and doc.get("ok") is True:
            result = doc.get("result")
            return result if isinstance(result, dict) else {}
        code = doc.get("error_code", r.status_code) if isinstance(doc, dict) else r.status_code
        desc = str(doc.get("description", "")) if isinstance(doc, dict) else ""
        reason = f"{code} {desc}".strip()[:200]
        params = doc.get("parameters") if isinstance(doc, dict) else None
        if code == 429 or r.status_code == 429:
            after = params.get("retry_after", 30) if isinstance(params, dict) else 30
            raise RateLimited("telegram", reason, float(after))
        raise ChannelError("telegram", reason, retry=r.status_code >= 500)

    async def send_text(self, chat_id: str, text: str,
                        markup: dict[str, Any] | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"chat_id": chat_id, "text": text,
                                   "disable_web_page_preview": True}
        if markup is not None:
            payload["reply_markup"] = markup
        return await self.call("sendMessage", payload)

    async def edit_text(self, chat_id: str, message_id: int, text: str,
                        markup: dict[str, Any]) -> dict[str, Any]:
        return await self.call("editMessageText", {
            "chat_id": chat_id, "message_id": message_id, "text": text,
            "disable_web_page_preview": True, "reply_markup": markup})

    async def answer_callback(self, callback_id: str, text: str) -> None:
        await self.call("answerCallbackQuery", {"callback_query_id": callback_id,
                                                "text": text[:200]})


def _editable(m: Outgoing) -> bool:
    """A change the message already in the chat can show silently (see the docstring)."""
    if m.earlier_id is None or not m.earlier_id.isdigit():
        return False
    return m.kind == "resolved" or (m.kind == "level" and m.level < Level.AWAS)


class TelegramChannel:
    name: ChannelName = "telegram"
    batch_size = 1

    def __init__(self, api: TelegramApi) -> None:
        self.api = api

    async def send(self, batch: Sequence[Outgoing], done: Done | None = None,
                   ) -> list[Result]:
        return [await self._one(m) for m in batch]

    async def _one(self, m: Outgoing) -> Result:
        markup = None
        if m.kind != "resolved" and m.incident_id is not None:
            ack, dispatch = BUTTONS[m.text.language]
            markup = {"inline_keyboard": [[
                {"text": ack, "callback_data": f"ack:{m.incident_id}"},
                {"text": dispatch, "callback_data": f"dispatch:{m.incident_id}"},
            ]]}
        if _editable(m):
            assert m.earlier_id is not None
            try:
                await self.api.edit_text(m.address, int(m.earlier_id), m.text.body,
                                         markup or {"inline_keyboard": []})
                return Sent(delivered=True, provider_id=m.earlier_id)
            except RateLimited as exc:
                return exc
            except ChannelError as exc:
                if "message is not modified" in exc.reason:
                    return Sent(delivered=True, provider_id=m.earlier_id)
                if exc.retry or exc.unreachable:
                    return exc
                # Gone or no longer editable: tell them in a new message.
        try:
            result = await self.api.send_text(m.address, m.text.body, markup)
        except ChannelError as exc:
            return exc
        return Sent(delivered=True, provider_id=str(result.get("message_id", "")) or None)

    async def aclose(self) -> None:
        return None
