"""Webhook, Telegram, WhatsApp and HTTP-SMS channels against local HTTP servers.

The real services (Telegram Bot API, WhatsApp Cloud API, an SMS gateway, a partner's webhook)
cannot be reached from here: tests/integration/api/notify_fakes.py stands in for them with their
documented request and response shapes, including their error and rate-limit answers.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from siaga.api.notify.channel import Outgoing, Sent
from siaga.api.notify.errors import ChannelError, RateLimited
from siaga.api.notify.message import Notice, render
from siaga.api.notify.settings import NotifySettings
from siaga.api.notify.sms import SmsChannel
from siaga.api.notify.telegram import TelegramApi, TelegramChannel
from siaga.api.notify.webhook import WebhookChannel, verify
from siaga.api.notify.whatsapp import WhatsAppChannel
from siaga.simulators.servers import free_port
from tests.integration.api.notify_fakes import (
    Answer,
    accepted,
    fake_service,
    telegram_ok,
    whatsapp_ok,
)

pytestmark = pytest.mark.anyio
SECRET = "rahasia-webhook-123"
NOTICE = Notice(incident_id=42, kind="opened", level=4, hazard="landslide", site="Lereng",
                agency="BPBD", explanation="Tanah bergerak", explanation_en="Ground moving",
                at=1_795_000_000.0, link="http://hub/dashboard/#/incident/42")


def message(address: str, language: str = "id", key: str = "siaga-1-abc") -> Outgoing:
    text = render(NOTICE, "en" if language == "en" else "id", "Asia/Jakarta")
    return Outgoing(key=key, address=address, text=text, incident_id=42, kind="opened",
                    level=4)


def settings(**kw: object) -> NotifySettings:
    return NotifySettings.model_validate({"enabled": True, **kw})


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


async def test_webhook_is_signed_timestamped_and_keyed(client: httpx.AsyncClient) -> None:
    s = settings(webhook={"secret": SECRET})
    assert s.webhook is not None
    with fake_service(lambda seen: Answer(status=204)) as svc:
        (r,) = await WebhookChannel(s.webhook, client).send([message(svc.url + "/hook")])
        assert r == Sent()
        (seen,) = svc.seen
        h = seen.headers
        assert h["idempotency-key"] == "siaga-1-abc"
        assert verify(SECRET, h["x-siaga-timestamp"], seen.body, h["x-siaga-signature"],
                      now=time.time())
        # A replay an hour later, or a body changed on the way, does not verify.
        assert not verify(SECRET, h["x-siaga-timestamp"], seen.body, h["x-siaga-signature"],
                          now=time.time() + 3600)
        assert not verify(SECRET, h["x-siaga-timestamp"], seen.body + b" ",
                          h["x-siaga-signature"], now=time.time())
        doc = seen.json()
        assert (doc["incident"], doc["level_name"], doc["kind"]) == (42, "AWAS", "opened")


async def test_webhook_errors_rate_limits_and_unreachable(client: httpx.AsyncClient) -> None:
    s = settings(webhook={"secret": SECRET})
    assert s.webhook is not None
    ch = WebhookChannel(s.webhook, client)
    with fake_service(lambda seen: Answer(status=200)) as svc:
        svc.script += [Answer(429, headers={"Retry-After": "7"}), Answer(503), Answer(404),
                       Answer(408)]
        results = await ch.send([message(svc.url)] * 4)
    limited, busy, gone, timeout = results
    assert isinstance(limited, RateLimited) and limited.retry_after == 7
    assert isinstance(busy, ChannelError) and busy.retry
    assert isinstance(gone, ChannelError) and not gone.retry
    assert isinstance(timeout, ChannelError) and timeout.retry
    (down,) = await ch.send([message(f"http://127.0.0.1:{free_port()}/")])
    assert isinstance(down, ChannelError) and down.unreachable and down.retry


async def test_telegram_message_with_buttons_and_its_errors(client: httpx.AsyncClient) -> None:
    with fake_service(telegram_ok) as svc:
        s = settings(telegram={"token": "123456:SECRET-TOKEN", "webhook_secret": "x" * 20,
                               "api_base": svc.url})
        assert s.telegram is not None
        ch = TelegramChannel(TelegramApi(s.telegram, client))
        svc.script += [
            Answer(429, {"ok": False, "error_code": 429,
                         "description": "Too Many Requests: retry after 12",
                         "parameters": {"retry_after": 12}}),
            Answer(400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: chat not found"}),
            Answer(403, {"ok": False, "error_code": 403,
                         "description": "Forbidden: bot was blocked by the user"}),
        ]
        limited, missing, blocked, ok, english = await ch.send(
            [message("-1001")] * 4 + [message("555", "en")])
        assert isinstance(limited, RateLimited) and limited.retry_after == 12
        assert isinstance(missing, ChannelError) and not missing.retry
        assert "chat not found" in missing.reason
        assert isinstance(blocked, ChannelError) and not blocked.retry
        assert isinstance(ok, Sent) and ok.delivered and ok.provider_id
        first = svc.seen[3]
        assert first.path == "/bot123456:SECRET-TOKEN/sendMessage"
        body = first.json()
        assert body["chat_id"] == "-1001" and body["text"].startswith("[AWAS] Tanah longsor")
        assert body["reply_markup"]["inline_keyboard"] == [[
            {"text": "Tanggapi", "callback_data": "ack:42"},
            {"text": "Kirim tim", "callback_data": "dispatch:42"}]]
        assert svc.seen[4].json()["reply_markup"]["inline_keyboard"][0][0]["text"] == \
            "Acknowledge"
    # Unreachable: the reason never carries the URL with the bot token.
    down = settings(telegram={"token": "123456:SECRET-TOKEN", "webhook_secret": "x" * 20,
                              "api_base": f"http://127.0.0.1:{free_port()}"}).telegram
    assert down is not None
    (r,) = await TelegramChannel(TelegramApi(down, client)).send([message("1")])
    assert isinstance(r, ChannelError) and r.unreachable and "SECRET" not in r.reason



async def test_telegram_edits_its_message_for_quiet_changes_and_sends_for_loud_ones(
        client: httpx.AsyncClient) -> None:
    """The Bot API stand-in answers editMessageText like Telegram (the edited Message, or
    400 "message to edit not found" / "message is not modified")."""
    import dataclasses

    with fake_service(telegram_ok) as svc:
        s = settings(telegram={"token": "123456:SECRET-TOKEN", "webhook_secret": "x" * 20,
                               "api_base": svc.url})
        assert s.telegram is not None
        ch = TelegramChannel(TelegramApi(s.telegram, client))
        base = message("-1001")

        def change(kind: str, level: int, earlier: str | None = "777") -> Outgoing:
            return dataclasses.replace(base, kind=kind, level=level,  # type: ignore[arg-type]
                                       earlier_id=earlier)

        svc.script += [
            Answer(body={"ok": True, "result": {"message_id": 777}}),  # level: edited
            Answer(body={"ok": True, "result": {"message_id": 777}}),  # resolved: edited
            Answer(400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: message to edit not found"}),
            Answer(body={"ok": True, "result": {"message_id": 900}}),  # so a new one
            Answer(400, {"ok": False, "error_code": 400, "description":
                         "Bad Request: message is not modified: specified new message"
                         " content and reply markup are exactly the same"}),
        ]
        level, resolved, gone, same, awas, opened = await ch.send([
            change("level", 3), change("resolved", 3), change("level", 3),
            change("level", 3), change("level", 4), change("opened", 2, None)])
        paths = [x.path.rsplit("/", 1)[1] for x in svc.seen]
        # Edit, edit, edit refused -> a new message, edit unchanged, Awas and a new incident
        # are new messages (an edit makes no sound).
        assert paths == ["editMessageText", "editMessageText", "editMessageText", "sendMessage",
                         "editMessageText", "sendMessage", "sendMessage"]
        edit = svc.seen[0].json()
        assert (edit["chat_id"], edit["message_id"]) == ("-1001", 777)
        assert edit["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ack:42"
        assert svc.seen[1].json()["reply_markup"] == {"inline_keyboard": []}  # resolved
        assert isinstance(level, Sent) and level.provider_id == "777"
        assert isinstance(resolved, Sent) and resolved.provider_id == "777"
        assert isinstance(gone, Sent) and gone.provider_id == "900"
        assert isinstance(same, Sent) and same.provider_id == "777"
        assert isinstance(awas, Sent) and isinstance(opened, Sent)

async def test_whatsapp_template_message_and_its_errors(client: httpx.AsyncClient) -> None:
    with fake_service(whatsapp_ok) as svc:
        s = settings(whatsapp={"token": "EAAG-token-123", "phone_number_id": "1098765",
                               "api_base": svc.url})
        assert s.whatsapp is not None
        ch = WhatsAppChannel(s.whatsapp, client)
        svc.script += [
            Answer(400, {"error": {"message": "(#130429) Rate limit hit", "type":
                                   "OAuthException", "code": 130429, "fbtrace_id": "A"}}),
            Answer(401, {"error": {"message": "Invalid OAuth access token", "type":
                                   "OAuthException", "code": 190, "fbtrace_id": "B"}}),
            Answer(500, {"error": {"message": "Service temporarily unavailable",
                                   "code": 2, "fbtrace_id": "C"}}),
        ]
        limited, denied, busy, ok = await ch.send([message("+6281234567890")] * 4)
        assert isinstance(limited, RateLimited)
        assert isinstance(denied, ChannelError) and not denied.retry
        assert isinstance(busy, ChannelError) and busy.retry
        assert isinstance(ok, Sent) and ok.provider_id and ok.provider_id.startswith("wamid.")
        seen = svc.seen[3]
        assert seen.path == "/v19.0/1098765/messages"
        assert seen.headers["authorization"] == "Bearer EAAG-token-123"
        body = seen.json()
        assert body["to"] == "6281234567890" and body["type"] == "template"
        assert body["template"]["name"] == "siaga_peringatan"
        assert body["template"]["language"] == {"code": "id"}
        params = [p["text"] for p in body["template"]["components"][0]["parameters"]]
        assert params[:3] == ["AWAS", "Tanah longsor", "Lereng"]


async def test_sms_gateway_and_its_errors(client: httpx.AsyncClient) -> None:
    with fake_service(accepted) as svc:
        s = settings(sms={"http": {"url": svc.url + "/send", "token": "sms-token"}})
        assert s.sms is not None
        ch = SmsChannel(s.sms, client)
        svc.script += [Answer(429, {"error": "slow down"}, {"Retry-After": "3"}),
                       Answer(422, {"error": "invalid number"})]
        limited, invalid, ok = await ch.send([message("+6281234567890")] * 3)
        assert isinstance(limited, RateLimited) and limited.retry_after == 3
        assert isinstance(invalid, ChannelError) and not invalid.retry
        assert ok == Sent(provider_id="sms-1")
        body = svc.seen[2].json()
        assert body["to"] == "+6281234567890" and body["reference"] == "siaga-1-abc"
        assert body["message"].startswith("(AWAS) Tanah longsor - Lereng")
        assert len(body["message"]) <= 160
        assert svc.seen[2].headers["authorization"] == "Bearer sms-token"
