"""What the bot does with the updates Telegram posts to the hub's webhook.

- A message holding a one-time link code (``/start CODE`` or just ``CODE``) links that chat
  and Telegram user to the staff account that asked for the code.
- A press on *Tanggapi* / *Kirim tim* (``callback_data`` ``ack:<id>`` / ``dispatch:<id>``)
  acknowledges or dispatches the incident as the staff account linked to the user who
  pressed, with the same rights as in the dashboard (api/incidents/lifecycle.py); the answer
  says what happened. A user with no linked account changes nothing.

Everything else is ignored. Telegram retries an update the hub does not answer with 2xx, so
the route always answers 200 once the secret token matched; failures go to the user.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from siaga.api.db import Database
from siaga.api.errors import HubError
from siaga.api.incidents.rules import StaffAction
from siaga.api.notify.contacts import claim_link_code, staff_for_telegram_user
from siaga.api.notify.errors import ChannelError
from siaga.api.notify.telegram import TelegramApi

__all__ = ["TelegramUpdates", "parse_callback", "parse_link_code"]

log = logging.getLogger(__name__)

_CODE = re.compile(r"^(?:/START(?:@\w+)?\s+)?([A-HJ-NP-Z2-9]{8})$")  # after upper()
_CALLBACK = re.compile(r"^(ack|dispatch):(\d{1,18})$")

# (username, action, incident id) -> a short sentence for the user; raises HubError.
Act = Callable[[str, StaffAction, int], Awaitable[str]]


def parse_link_code(text: str) -> str | None:
    m = _CODE.match(text.strip().upper())
    return m.group(1) if m else None


def parse_callback(data: str) -> tuple[StaffAction, int] | None:
    m = _CALLBACK.match(data)
    # the pattern admits the two button actions alone
    return (cast(StaffAction, m.group(1)), int(m.group(2))) if m else None


def _id(obj: Any, *path: str) -> str | None:
    for p in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(p)
    return str(obj) if isinstance(obj, int | str) and not isinstance(obj, bool) else None


class TelegramUpdates:
    def __init__(self, db: Database, api: TelegramApi, act: Act,
                 clock: Callable[[], float]) -> None:
        self.db = db
        self.api = api
        self.act = act
        self.clock = clock

    async def handle(self, update: Mapping[str, Any]) -> str:
        """Handle one update; returns what was done (for logs and tests)."""
        try:
            if isinstance(update.get("callback_query"), Mapping):
                return await self._callback(update["callback_query"])
            if isinstance(update.get("message"), Mapping):
                return await self._message(update["message"])
        except ChannelError as exc:  # the answer did not reach Telegram; the deed is done
            log.warning("telegram answer failed: %s", exc.reason)
            return "answer-failed"
        return "ignored"

    async def _message(self, msg: Mapping[str, Any]) -> str:
        chat, user, text = _id(msg, "chat", "id"), _id(msg, "from", "id"), msg.get("text")
        if chat is None or user is None or not isinstance(text, str) or len(text) > 100:
            return "ignored"
        code = parse_link_code(text)
        if code is None:
            return "ignored"
        now = self.clock()
        username = await self.db.run(lambda c: claim_link_code(c, code, chat, user, now))
        if username is None:
            await self.api.send_text(chat, "Kode tidak dikenal atau sudah kedaluwarsa. "
                                           "Minta kode baru di dasbor Siaga.")
            return "bad-code"
        await self.api.send_text(chat, f"Terhubung dengan akun Siaga {username}. "
                                       "Peringatan akan dikirim ke sini.")
        return f"linked:{username}"

    async def _callback(self, q: Mapping[str, Any]) -> str:
        qid, user = _id(q, "id"), _id(q, "from", "id")
        data = q.get("data")
        if qid is None or user is None or not isinstance(data, str):
            return "ignored"
        parsed = parse_callback(data)
        if parsed is None:
            await self.api.answer_callback(qid, "Tombol tidak dikenal.")
            return "bad-button"
        username = await self.db.run(lambda c: staff_for_telegram_user(c, user))
        if username is None:
            await self.api.answer_callback(
                qid, "Akun Telegram ini belum terhubung ke Siaga: kirim kode tautan ke bot.")
            return "unlinked"
        action, incident_id = parsed
        try:
            answer = await self.act(username, action, incident_id)
        except HubError as exc:
            await self.api.answer_callback(qid, f"Tidak bisa: {exc.detail}")
            return f"refused:{type(exc).__name__}"
        await self.api.answer_callback(qid, answer)
        return f"{action}:{incident_id}:{username}"
