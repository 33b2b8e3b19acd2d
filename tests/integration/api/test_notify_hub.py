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


async def reported_incident(hub: AsgiHub) -> int:
    """A citizen report, verified by a BPBD duty officer: the incident it opens."""
    r = await hub.client.post("/api/v1/reports", json=REPORT)
    assert r.status_code == 201 and r.json()["status"] == "triage", r.text
    officer = await hub.staff(agency="BPBD", role="responder")
    r = await hub.client.post(f"/api/v1/reports/{r.json()['report_id']}/verify",
                              headers=officer.headers)
    assert r.status_code == 200, r.text
    return int(r.json()["incident_id"])


async def test_an_incident_reaches_webhook_and_telegram_group_with_status_recorded(
        hub: AsgiHub, webhook: FakeService, telegram: FakeService) -> None:
    incident_id = await reported_incident(hub)
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


def notify_notes(hub: AsgiHub, incident_id: int, headers: dict[str, str]) -> Any:
    """A fetcher of the incident's ``notify`` timeline entries (their data), for ``until``."""
    async def notes() -> list[dict[str, Any]]:
        d = (await hub.client.get(f"/api/v1/incidents/{incident_id}", headers=headers)).json()
        return [e["data"] for e in d["timeline"] if e["kind"] == "notify"]
    return notes


async def _at_least(fetch: Any, n: int) -> list[Any]:
    got: list[Any] = await fetch()
    return got if len(got) >= n else []


def last_answer(telegram: FakeService) -> Any:
    """The bot's last answer to a button (notifications may arrive in between)."""
    return next(s for s in reversed(telegram.seen)
                if s.path.endswith("answerCallbackQuery")).json()


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

    incident_id = await reported_incident(hub)
    press = update({"callback_query": {
        "id": "cb-1", "from": {"id": 4242, "is_bot": False, "first_name": "Sari"},
        "message": {"message_id": 9, "chat": {"id": -100777, "type": "supergroup"}},
        "data": f"ack:{incident_id}"}})
    assert (await hub.client.post(hook, json=press, headers=good)).status_code == 200
    answer = last_answer(telegram)
    assert answer["callback_query_id"] == "cb-1"
    assert "ditanggapi oleh sari" in answer["text"]
    inc = (await hub.client.get(f"/api/v1/incidents/{incident_id}", headers=sari.headers)).json()
    assert inc["status"] == "acknowledged"
    assert inc["clocks"][0]["acknowledged_by"] == "sari"
    # A second press: the step was taken; the answer says so and nothing changes.
    press["callback_query"]["id"] = "cb-2"
    await hub.client.post(hook, json=press, headers=good)
    answer = last_answer(telegram)
    assert answer["callback_query_id"] == "cb-2" and answer["text"].startswith("Tidak bisa")


async def test_buttons_from_strangers_and_malformed_updates_change_nothing(
        hub: AsgiHub, telegram: FakeService) -> None:
    incident_id = await reported_incident(hub)
    hook = "/api/v1/notify/telegram/webhook"
    good = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    stranger = update({"callback_query": {"id": "cb-9", "from": {"id": 999},
                                          "data": f"dispatch:{incident_id}"}})
    assert (await hub.client.post(hook, json=stranger, headers=good)).status_code == 200
    assert "belum terhubung" in last_answer(telegram)["text"]
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


async def test_whatsapp_receipts_mark_deliveries_delivered_or_failed(
        hub_settings_factory: Any) -> None:
    import hashlib
    import hmac
    import json

    from tests.integration.api.notify_fakes import whatsapp_ok

    with fake_service(whatsapp_ok) as wa:
        settings = hub_settings_factory(notify={
            "enabled": True, "poll_s": 0.2,
            "whatsapp": {"token": "EAAG-token-123", "phone_number_id": "1098765",
                         "api_base": wa.url, "app_secret": "meta-app-secret",
                         "verify_token": "verify-me-123"},
            "groups": {"posko": {"whatsapp": "6281234567890"},
                       "camat": {"whatsapp": "6281234567891"}},
            "rules": [{"min_level": 2, "channels": ["whatsapp"],
                       "to": ["group:posko", "group:camat"]}],
        }, incidents={"check_interval_s": 3600})
        async with asgi_hub(settings) as hub:
            url = "/api/v1/notify/whatsapp/webhook"
            r = await hub.client.get(url, params={"hub.mode": "subscribe", "hub.challenge":
                                                  "1158201444", "hub.verify_token":
                                                  "verify-me-123"})
            assert (r.status_code, r.text) == (200, "1158201444")
            r = await hub.client.get(url, params={"hub.mode": "subscribe", "hub.challenge":
                                                  "x", "hub.verify_token": "wrong"})
            assert r.status_code == 403
            incident_id = await reported_incident(hub)
            await asyncio.to_thread(wa.wait_for, 2)
            admin = await hub.staff(role="admin", agency="DISKOMINFO")
            notes = notify_notes(hub, incident_id, admin.headers)

            await until(lambda: _at_least(notes, 2))
            ids = await hub.services.db.run(lambda c: [r[0] for r in c.execute(
                "SELECT provider_id FROM notify_deliveries ORDER BY id")])
            body = json.dumps({"object": "whatsapp_business_account", "entry": [{
                "id": "WABA", "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp", "statuses": [
                        {"id": ids[0], "status": "delivered", "timestamp": "1",
                         "recipient_id": "6281234567890"},
                        {"id": ids[1], "status": "failed", "timestamp": "1",
                         "recipient_id": "6281234567891",
                         "errors": [{"code": 131026, "title": "Message undeliverable"}]},
                    ]}}]}]}).encode()
            sig = "sha256=" + hmac.new(b"meta-app-secret", body, hashlib.sha256).hexdigest()
            r = await hub.client.post(url, content=body, headers={"X-Hub-Signature-256":
                                                                   "sha256=" + "0" * 64})
            assert r.status_code == 401
            r = await hub.client.post(url, content=body, headers={"X-Hub-Signature-256": sig})
            assert r.status_code == 200 and r.json() == {"updated": 2}
            r = await hub.client.post(url, content=body, headers={"X-Hub-Signature-256": sig})
            assert r.json() == {"updated": 0}  # a receipt Meta repeats changes nothing
            got = await notes()
            assert [(n["status"], n["error"]) for n in got[2:]] == [
                ("delivered", None), ("failed", "131026 Message undeliverable")]
            metrics = (await hub.client.get("/metrics")).text
            assert 'siaga_notify_deliveries_total{channel="whatsapp",outcome="sent"} 2' in metrics


async def test_sms_delivery_reports_mark_deliveries_delivered_or_failed(
        hub_settings_factory: Any) -> None:
    """The SMS gateway is a local stand-in (the real ones are unreachable from here) whose
    delivery reports take Infobip's documented webhook shape; the route checks HTTP Basic."""
    import base64
    import json

    from tests.integration.api.notify_fakes import Seen

    def gateway(seen: Seen) -> Answer:
        return Answer(body={"id": f"gw-{seen.json()['to'][-1]}", "status": "queued"})

    with fake_service(gateway) as sms:
        settings = hub_settings_factory(notify={
            "enabled": True, "poll_s": 0.2,
            "sms": {"http": {"url": f"{sms.url}/send", "token": "sms-token-123",
                             "report_secret": "dlr-secret-0123456789"}},
            "groups": {"posko": {"sms": "+6281234567890"},
                       "camat": {"sms": "+6281234567891"}},
            "rules": [{"min_level": 2, "channels": ["sms"],
                       "to": ["group:posko", "group:camat"]}],
        }, incidents={"check_interval_s": 3600})
        async with asgi_hub(settings) as hub:
            incident_id = await reported_incident(hub)
            await asyncio.to_thread(sms.wait_for, 2)
            admin = await hub.staff(role="admin", agency="DISKOMINFO")
            notes = notify_notes(hub, incident_id, admin.headers)

            await until(lambda: _at_least(notes, 2))
            rows = await hub.services.db.run(lambda c: [tuple(r) for r in c.execute(
                "SELECT address, provider_id, key FROM notify_deliveries ORDER BY address")])
            (_, posko_id, _), (_, _, camat_key) = rows
            body = json.dumps({"results": [
                {"bulkId": "b-1", "messageId": posko_id, "to": "6281234567890",
                 "sentAt": "2026-12-07T02:03:04.000+0000", "doneAt": "2026-12-07T02:03:09.000+0000",
                 "smsCount": 1, "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5,
                                           "name": "DELIVERED_TO_HANDSET",
                                           "description": "Message delivered to handset"},
                 "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR",
                           "description": "No Error", "permanent": False}},
                {"messageId": "not-ours", "callbackData": camat_key, "to": "6281234567891",
                 "status": {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9,
                            "name": "UNDELIVERABLE_NOT_DELIVERED",
                            "description": "Message sent not delivered"},
                 "error": {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 27,
                           "name": "EC_ABSENT_SUBSCRIBER", "description": "Absent Subscriber",
                           "permanent": False}},
                {"messageId": "x", "status": {"groupName": "PENDING"}},
                "garbage", {"status": "DELIVERED"},
            ]}).encode()
            url = "/api/v1/notify/sms/report"

            def basic(password: str) -> dict[str, str]:
                token = base64.b64encode(f"siaga:{password}".encode()).decode()
                return {"Authorization": f"Basic {token}"}

            assert (await hub.client.post(url, content=body)).status_code == 401
            r = await hub.client.post(url, content=body, headers=basic("wrong-secret-000000"))
            assert r.status_code == 401
            r = await hub.client.post(url, content=b"{not json",
                                      headers=basic("dlr-secret-0123456789"))
            assert r.status_code == 400
            r = await hub.client.post(url, content=body, headers=basic("dlr-secret-0123456789"))
            assert (r.status_code, r.json()) == (200, {"updated": 2})
            r = await hub.client.post(url, content=body, headers=basic("dlr-secret-0123456789"))
            assert r.json() == {"updated": 0}  # a repeated report changes nothing
            got = await notes()
            assert sorted((n["status"], n["error"]) for n in got[2:]) == [
                ("delivered", None),
                ("failed", "UNDELIVERABLE_NOT_DELIVERED; EC_ABSENT_SUBSCRIBER: Absent Subscriber")]
            metrics = (await hub.client.get("/metrics")).text
            assert 'siaga_notify_deliveries_total{channel="sms",outcome="delivered"} 1' in metrics
            assert 'siaga_notify_deliveries_total{channel="sms",outcome="failed"} 1' in metrics
