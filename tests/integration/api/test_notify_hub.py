"""Notifications through a whole in-process hub: an incident reaches a webhook and a
Telegram group, delivery status lands in the timeline and /metrics, staff link Telegram with
a one-time code and acknowledge from its button.

Telegram and the webhook receiver are local stand-ins (tests/integration/api/notify_fakes.py):
the real services cannot be reached from here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from siaga.api.notify.webhook import verify
from tests.api_fixtures import AsgiHub, asgi_hub
from tests.integration.api.notify_fakes import Answer, FakeService, fake_service, telegram_ok

pytestmark = pytest.mark.anyio
SECRET = "webhook-rahasia-123"
TG_SECRET = "telegram-rahasia-123"


@pytest.fixture
def webhook() -> Iterator[FakeService]:
    with fake_service(lambda seen: Answer(status=200)) as svc:
        yield svc


@pytest.fixture
def telegram() -> Iterator[FakeService]:
    with fake_service(telegram_ok) as svc:
        yield svc


@pytest.fixture
async def hub(hub_settings_factory: Any, webhook: FakeService,
              telegram: FakeService) -> AsyncIterator[AsgiHub]:
    settings = hub_settings_factory(notify={
        "enabled": True, "base_url": "https://siaga.batu.go.id", "poll_s": 0.2,
        "webhook": {"secret": SECRET},
        "telegram": {"token": "123456:TOKEN", "webhook_secret": TG_SECRET,
                     "api_base": telegram.url, "bot_name": "@SiagaBatuBot"},
        "groups": {"ops": {"webhook": webhook.url + "/siaga", "telegram_chat": "-100777"}},
        "rules": [{"min_level": 2, "channels": ["webhook", "telegram"], "to": ["group:ops"]}],
    }, incidents={"check_interval_s": 3600})
    async with asgi_hub(settings) as h:
        yield h


async def until(check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


REPORT = {"lat": -7.8380, "lon": 112.5365, "hazard": "landslide", "text": "tanah retak"}


async def test_an_incident_reaches_webhook_and_telegram_group_with_status_recorded(
        hub: AsgiHub, webhook: FakeService, telegram: FakeService) -> None:
    r = await hub.client.post("/api/v1/reports", json=REPORT)
    assert r.status_code == 201
    incident_id = r.json()["incident_id"]
    (hook,) = await asyncio.to_thread(webhook.wait_for, 1)
    assert verify(SECRET, hook.headers["x-siaga-timestamp"], hook.body,
                  hook.headers["x-siaga-signature"], now=time.time())
    doc = hook.json()
    assert (doc["incident"], doc["level_name"], doc["hazard"]) == (
        incident_id, "WASPADA", "Tanah longsor")
    assert doc["link"] == f"https://siaga.batu.go.id/dashboard/#/incident/{incident_id}"
    (msg,) = await asyncio.to_thread(telegram.wait_for, 1)
    assert msg.json()["chat_id"] == "-100777"
    admin = await hub.staff(role="admin", agency="DISKOMINFO")

    async def notified() -> list[Any]:
        d = (await hub.client.get(f"/api/v1/incidents/{incident_id}",
                                  headers=admin.headers)).json()
        return [e for e in d["timeline"] if e["kind"] == "notify"]

    entries = await until(lambda: _at_least(notified, 2))
    assert {(e["data"]["channel"], e["data"]["status"]) for e in entries} == {
        ("webhook", "sent"), ("telegram", "delivered")}
    metrics = (await hub.client.get("/metrics")).text
    assert 'siaga_notify_deliveries_total{channel="webhook",outcome="sent"} 1' in metrics
    assert 'siaga_notify_deliveries_total{channel="telegram",outcome="delivered"} 1' in metrics
    # A second report joins the incident at the same level: nobody is told again.
    await hub.client.post("/api/v1/reports", json=REPORT)
    await asyncio.sleep(1)
    assert len(webhook.seen) == 1 and len(telegram.seen) == 1


async def _at_least(fetch: Any, n: int) -> list[Any]:
    got: list[Any] = await fetch()
    return got if len(got) >= n else []


def update(body: dict[str, Any]) -> dict[str, Any]:
    return {"update_id": 1, **body}


async def test_link_telegram_with_a_code_then_acknowledge_from_the_button(
        hub: AsgiHub, telegram: FakeService) -> None:
    sari = await hub.staff(agency="BPBD", username="sari")
    r = await hub.client.post("/api/v1/notify/telegram/link", headers=sari.headers)
    assert r.status_code == 200
    code = r.json()["code"]
    assert code in r.json()["instructions"] and "@SiagaBatuBot" in r.json()["instructions"]
    hook = "/api/v1/notify/telegram/webhook"
    good = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    start = update({"message": {"message_id": 5, "chat": {"id": 4242, "type": "private"},
                                "from": {"id": 4242, "is_bot": False, "first_name": "Sari"},
                                "text": f"/start {code}"}})
    assert (await hub.client.post(hook, json=start)).status_code == 401
    assert (await hub.client.post(hook, json=start, headers={
        "X-Telegram-Bot-Api-Secret-Token": "x" * 20})).status_code == 401
    assert (await hub.client.post(hook, json=start, headers=good)).status_code == 200
    reply = telegram.seen[-1].json()
    assert reply["chat_id"] == "4242" and "sari" in reply["text"]
    contact = (await hub.client.get("/api/v1/staff/sari/contact", headers=sari.headers)).json()
    assert contact["telegram_linked"] is True
    # The code works once.
    assert (await hub.client.post(hook, json=start, headers=good)).status_code == 200
    assert "kedaluwarsa" in telegram.seen[-1].json()["text"]

    incident_id = (await hub.client.post("/api/v1/reports", json=REPORT)).json()["incident_id"]
    press = update({"callback_query": {
        "id": "cb-1", "from": {"id": 4242, "is_bot": False, "first_name": "Sari"},
        "message": {"message_id": 9, "chat": {"id": -100777, "type": "supergroup"}},
        "data": f"ack:{incident_id}"}})
    assert (await hub.client.post(hook, json=press, headers=good)).status_code == 200
    answer = next(s for s in reversed(telegram.seen) if s.path.endswith("answerCallbackQuery"))
    assert answer.json()["callback_query_id"] == "cb-1"
    assert "ditanggapi oleh sari" in answer.json()["text"]
    inc = (await hub.client.get(f"/api/v1/incidents/{incident_id}", headers=sari.headers)).json()
    assert inc["status"] == "acknowledged"
    assert inc["clocks"][0]["acknowledged_by"] == "sari"
    # A second press: the step was taken; the answer says so and nothing changes.
    press["callback_query"]["id"] = "cb-2"
    await hub.client.post(hook, json=press, headers=good)
    answer = telegram.seen[-1].json()
    assert answer["callback_query_id"] == "cb-2" and answer["text"].startswith("Tidak bisa")


async def test_buttons_from_strangers_and_malformed_updates_change_nothing(
        hub: AsgiHub, telegram: FakeService) -> None:
    incident_id = (await hub.client.post("/api/v1/reports", json=REPORT)).json()["incident_id"]
    hook = "/api/v1/notify/telegram/webhook"
    good = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    stranger = update({"callback_query": {"id": "cb-9", "from": {"id": 999},
                                          "data": f"dispatch:{incident_id}"}})
    assert (await hub.client.post(hook, json=stranger, headers=good)).status_code == 200
    assert "belum terhubung" in telegram.seen[-1].json()["text"]
    for body in ({"callback_query": {"id": "x", "from": {"id": 1}, "data": "rm -rf:1"}},
                 {"callback_query": "nope"}, {"message": {"text": 5}}, {}):
        assert (await hub.client.post(hook, json=body, headers=good)).status_code == 200
    for raw in (b"not json", b"[1, 2]", b"x" * 70_000):
        r = await hub.client.post(hook, content=raw, headers=good)
        assert r.status_code in (400, 413)
    admin = await hub.staff(role="admin", agency="DISKOMINFO")
    inc = (await hub.client.get(f"/api/v1/incidents/{incident_id}",
                                headers=admin.headers)).json()
    assert inc["status"] == "open"


async def test_contact_records_are_own_or_admins(hub: AsgiHub) -> None:
    sari = await hub.staff(agency="BPBD", username="sari2")
    budi = await hub.staff(agency="PMK", username="budi2")
    body = {"position": "duty_officer", "language": "en", "email": "sari@batu.go.id",
            "sms": "+6281234567890", "channels": ["sms", "email"]}
    r = await hub.client.put("/api/v1/staff/sari2/contact", json=body, headers=sari.headers)
    assert r.status_code == 200 and r.json()["channels"] == ["sms", "email"]
    assert (await hub.client.put("/api/v1/staff/sari2/contact", json=body,
                                 headers=budi.headers)).status_code == 403
    bad = await hub.client.put("/api/v1/staff/sari2/contact", json={"sms": "call me"},
                               headers=sari.headers)
    assert bad.status_code == 422
    admin = await hub.staff(role="admin", agency="DISKOMINFO")
    assert (await hub.client.get("/api/v1/staff/sari2/contact",
                                 headers=admin.headers)).json()["position"] == "duty_officer"
    assert (await hub.client.get("/api/v1/staff/nobody/contact",
                                 headers=admin.headers)).status_code == 404
