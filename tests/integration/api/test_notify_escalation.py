"""The escalation chain through a whole in-process hub, told by real email (aiosmtpd): the
duty officer at once (Awas), the head of section at the missed ack deadline, the head ten
minutes later; an acknowledgement stops the chain. The SLA clock is driven by hand."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from siaga.firmware_bridge.uplink import UplinkAlert
from siaga.simulators.smtp_inbox import SmtpInbox
from tests.api_fixtures import AsgiHub, asgi_hub

pytestmark = pytest.mark.anyio
T0 = float(int(time.time()) - 60)


@pytest.fixture
async def hub(hub_settings_factory: Any, inbox: SmtpInbox) -> AsyncIterator[AsgiHub]:
    settings = hub_settings_factory(
        notify={"enabled": True, "poll_s": 0.1,
                "email": {"host": "127.0.0.1", "port": inbox.port, "security": "none",
                          "sender": "siaga@batu.go.id"}},
        incidents={"check_interval_s": 3600, "escalation_every_min": 10})
    async with asgi_hub(settings) as h:
        yield h


def alert(level: int, ts: float, node: str) -> UplinkAlert:
    return UplinkAlert(id=1, node=node, site=f"site-{node}", hazard="landslide", level=level,
                   previous_level=1, detector="landslide", ts=int(ts * 1000),
                   explanation="Pergerakan tanah 12 mm/jam", explanation_en="Ground moving")


async def people(hub: AsgiHub) -> dict[str, str]:
    admin = await hub.staff(role="admin", agency="DISKOMINFO")
    for user, position in (("sari", "duty_officer"), ("kasi", "head_of_section"),
                           ("kalak", "head")):
        await hub.staff(agency="BPBD", username=user)
        r = await hub.client.put(f"/api/v1/staff/{user}/contact", headers=admin.headers,
                                 json={"position": position, "email": f"{user}@batu.go.id"})
        assert r.status_code == 200
    return admin.headers


async def mail_to(inbox: SmtpInbox, n: int) -> list[tuple[str, str]]:
    await asyncio.to_thread(inbox.wait_for, n)
    await asyncio.sleep(0.3)  # nothing more should follow
    return [(m["To"], m["Subject"]) for m in inbox.messages]  # type: ignore[index]


async def test_the_chain_climbs_by_email_and_stops_at_the_acknowledgement(
        hub: AsgiHub, inbox: SmtpInbox) -> None:
    await people(hub)
    svc = hub.services.incidents
    svc.clock = lambda: T0
    await svc.ingest_alerts("gw-1", [alert(4, T0, "n1")], T0)
    assert await mail_to(inbox, 1) == [
        ("sari@batu.go.id", "[AWAS] Tanah longsor - site-n1 (Insiden baru)")]
    svc.clock = lambda: T0 + 301  # Awas: 5 min to acknowledge
    await svc.check_deadlines()
    got = await mail_to(inbox, 2)
    assert got[1] == ("kasi@batu.go.id",
                      "[AWAS] Tanah longsor - site-n1 (ESKALASI: belum ditanggapi)")
    body = inbox.messages[1].get_payload()
    assert "BPBD belum menanggapi; Anda diberi tahu sebagai kepala seksi." in str(body)
    svc.clock = lambda: T0 + 301 + 600
    await svc.check_deadlines()
    assert (await mail_to(inbox, 3))[2][0] == "kalak@batu.go.id"
    svc.clock = lambda: T0 + 3600  # before the resolve deadline (2 h)
    assert await svc.check_deadlines() == []  # the chain has ended
    admin = await hub.staff(role="admin", agency="DISKOMINFO")
    detail = (await hub.client.get("/api/v1/incidents/1", headers=admin.headers)).json()
    rungs = [(e["data"].get("rung"), e["data"].get("position")) for e in detail["timeline"]
             if e["kind"] == "escalation"]
    assert rungs == [(1, "head_of_section"), (2, "head")]
    notes = [e["data"]["recipient"] for e in detail["timeline"] if e["kind"] == "notify"]
    assert notes == ["user:sari", "user:kasi", "user:kalak"]


async def test_acknowledging_stops_the_chain(hub: AsgiHub, inbox: SmtpInbox) -> None:
    await people(hub)
    svc = hub.services.incidents
    svc.clock = lambda: T0
    await svc.ingest_alerts("gw-1", [alert(4, T0, "n2")], T0)
    await mail_to(inbox, 1)
    svc.clock = lambda: T0 + 301
    await svc.check_deadlines()
    await mail_to(inbox, 2)
    sari = await hub.staff(agency="BPBD")
    svc.clock = lambda: T0 + 400
    r = await hub.client.post("/api/v1/incidents/1/ack", headers=sari.headers)
    assert r.status_code == 200
    svc.clock = lambda: T0 + 301 + 600
    assert await svc.check_deadlines() == []
    await asyncio.sleep(0.5)
    assert [m["To"] for m in inbox.messages] == ["sari@batu.go.id", "kasi@batu.go.id"]


async def test_the_scheduler_prunes_old_deliveries_and_counts_them(
        hub: AsgiHub, inbox: SmtpInbox) -> None:
    await people(hub)
    await hub.services.incidents.ingest_alerts("gw-1", [alert(4, T0, "n1")], T0)
    await mail_to(inbox, 1)
    notify = hub.services.notify
    assert notify is not None
    assert await notify.prune_once() == (0, 0)  # a fresh delivery stays
    notify.clock = lambda: time.time() + notify.settings.prune_after_s + 60
    assert await notify.prune_once() == (1, 1)
    metrics = (await hub.client.get("/metrics")).text
    assert 'siaga_notify_pruned_total{table="deliveries"} 1' in metrics
    assert 'siaga_notify_pruned_total{table="outbox"} 1' in metrics
    admin = await hub.staff(role="admin", agency="DISKOMINFO")
    detail = (await hub.client.get("/api/v1/incidents/1", headers=admin.headers)).json()
    assert [e["data"]["status"] for e in detail["timeline"] if e["kind"] == "notify"] == [
        "sent"]  # the timeline keeps the story
