"""A citizen report waiting in triage reaches the duty officer off the screen: through a whole
in-process hub, told by real email (aiosmtpd) with its place and the triage link; a flood
from many addresses is one mail for the first and one for the rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from siaga.api.registry import SiteIn
from siaga.simulators.smtp_inbox import SmtpInbox
from tests.api_fixtures import AsgiHub, asgi_hub

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def hub(hub_settings_factory: Any, inbox: SmtpInbox) -> AsyncIterator[AsgiHub]:
    settings = hub_settings_factory(
        notify={"enabled": True, "poll_s": 0.1, "base_url": "https://siaga.batukota.go.id",
                "report_batch_s": 2,
                "email": {"host": "127.0.0.1", "port": inbox.port, "security": "none",
                          "sender": "siaga@batu.go.id"}},
        incidents={"check_interval_s": 3600})
    async with asgi_hub(settings) as h:
        yield h


@asynccontextmanager
async def client_from(hub: AsgiHub, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=hub.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        yield client


async def test_a_report_in_triage_mails_the_pmk_duty_officer(hub: AsgiHub,
                                                             inbox: SmtpInbox) -> None:
    await hub.services.registry.put_site(
        "pasar-batu", SiteIn(name="Pasar Besar Batu", lat=-7.8716, lon=112.5247, kind="market"))
    admin = await hub.staff(role="admin", agency="DISKOMINFO")
    for user, agency, position in (("budi", "PMK", "duty_officer"),
                                   ("dani", "PMK", "head_of_section"),
                                   ("sari", "BPBD", "duty_officer")):
        await hub.staff(agency=agency, username=user)
        r = await hub.client.put(f"/api/v1/staff/{user}/contact", headers=admin.headers,
                                 json={"position": position, "email": f"{user}@batu.go.id"})
        assert r.status_code == 200
    # Near the market (a fire there is PMK's), yet no incident: it waits in triage.
    r = await hub.client.post("/api/v1/reports", json={
        "lat": -7.8716, "lon": 112.5248, "hazard": "fire", "text": "asap hitam dari kios"})
    assert r.status_code == 201, r.text
    # A fire at a market is PMK's and BPBD's: each one's duty officer, not the head of section.
    await asyncio.to_thread(inbox.wait_for, 2)
    mails = sorted(inbox.messages, key=lambda m: str(m["To"]))  # type: ignore[index]
    assert [m["To"] for m in mails] == ["budi@batu.go.id", "sari@batu.go.id"]
    for mail in mails:
        assert mail["Subject"] == ("[LAPORAN WARGA] Kebakaran - Pasar Besar Batu"
                                   " (menunggu verifikasi)")
        body = str(mail.get_payload())
        assert "asap hitam dari kios" in body
        assert "https://siaga.batukota.go.id/dashboard/#/reports" in body
    # Six more from six other addresses, far apart (none confirms another, none at a market:
    # PMK's alone): one more mail, to PMK's duty officer, once the batch window ends.
    for i in range(6):
        async with client_from(hub, f"10.0.0.{i + 1}") as c:
            r = await c.post("/api/v1/reports", json={
                "lat": -7.80 - 0.02 * i, "lon": 112.45, "hazard": "fire", "text": f"api {i}"})
            assert r.status_code == 201, r.text
    await asyncio.to_thread(inbox.wait_for, 3, 15)
    await asyncio.sleep(0.5)  # nothing more should follow
    assert len(inbox.messages) == 3
    last = inbox.messages[2]
    assert last["To"] == "budi@batu.go.id"  # type: ignore[index]
    assert "(6 laporan menunggu verifikasi, terbaru di sini)" in " ".join(
        str(last["Subject"]).split())  # type: ignore[index]
    metrics = (await hub.client.get("/metrics")).text
    assert 'siaga_notify_deliveries_total{channel="email",outcome="sent"} 3' in metrics
