"""The dashboard in a real headless Chromium (Debian's) against a hub served by uvicorn.

The story a BPBD responder lives through: sign in, see a landslide incident appear within two
seconds of its alert being ingested, open it, acknowledge it, and see the report card count
it; a PMK responder never sees it. (Screenshots of every page: test_pages.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api_fixtures import LiveHub, make_settings, serve_hub
from tests.e2e.browser import DESKTOP, PHONE, OpenPage

REGISTRY = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "registry.toml"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    settings = make_settings(tmp_path, registry={"file": str(REGISTRY)},
                             dashboard={"tile_url": ""})
    with serve_hub(settings) as h:
        yield h


def sign_in(open_page: OpenPage, hub: LiveHub, username: str,
            viewport: dict[str, int] | None = None) -> Page:
    page = open_page(viewport or DESKTOP)
    page.goto(f"{hub.url}/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "kata-sandi-uji-123")
    page.keyboard.press("Enter")
    expect(page.locator("#who")).to_contain_text(username)
    return page


def ingest_landslide_alert(hub: LiveHub, token: str, level: int = 3) -> None:
    now = int(time.time() * 1000)
    batch = {
        "v": 1, "gateway": "gw-bumiaji-01", "batch": f"gw-bumiaji-01:{now}",
        "sent_at": now, "readings": [
            {"id": 1, "node": "slope-07", "channel": "rain", "value": 78.0, "unit": "mm",
             "ts": now - 60_000, "rx": now - 60_000, "seq": 1, "src": "serial:/dev/ttyUSB0"}],
        "alerts": [{
            "id": 2, "node": "slope-07", "hazard": "landslide", "level": level,
            "previous_level": 1, "detector": "landslide", "channel": "rain", "ts": now,
            "explanation": "Curah hujan 3 jam 78 mm melewati ambang Siaga 60 mm",
            "explanation_en": "3-hour rainfall 78 mm exceeds the Siaga threshold of 60 mm",
            "values": {"rain_3h_mm": 78}, "thresholds": {"siaga_3h_mm": 60}, "window_s": 10800}],
    }
    r = httpx.post(f"{hub.url}/api/v1/ingest", json=batch,
                   headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text


def test_responder_sees_acknowledges_and_scorecard_counts(open_page: OpenPage,
                                                          hub: LiveHub) -> None:
    hub.staff(agency="BPBD", username="bpbd-andi")
    hub.staff(agency="PMK", username="pmk-budi")
    token = hub.gateway("gw-bumiaji-01")

    bpbd = sign_in(open_page, hub, "bpbd-andi", DESKTOP)
    pmk = sign_in(open_page, hub, "pmk-budi", PHONE)
    expect(bpbd.locator("#live")).to_have_class("live on")
    expect(pmk.locator("#live")).to_have_class("live on")
    expect(bpbd.locator(".empty")).to_be_visible()

    ingest_landslide_alert(hub, token)
    card = bpbd.locator("article.inc").first
    expect(card).to_be_visible(timeout=2000)  # the bound: within 2 s of ingest
    expect(card).to_contain_text("Tanah longsor")
    expect(card).to_contain_text("Siaga")  # the level in words, not only colour
    expect(card.locator(".sla")).to_contain_text("BPBD")
    assert bpbd.locator("#flash").is_visible()  # the visual cue for a new Siaga incident

    # another agency's responder sees nothing of it, live or on reload
    pmk.wait_for_timeout(500)
    assert pmk.locator("article.inc").count() == 0
    pmk.reload()
    expect(pmk.locator("#who")).to_contain_text("pmk-budi")
    assert pmk.locator("article.inc").count() == 0

    # open it from the keyboard, acknowledge with a note
    card.focus()
    bpbd.keyboard.press("Enter")
    expect(bpbd.locator("#incident-title")).to_contain_text("Tanah longsor")
    expect(bpbd.locator("#timeline")).to_contain_text("Curah hujan 3 jam 78 mm")
    expect(bpbd.locator("#incident-title")).to_contain_text("Lereng Bumiaji")
    bpbd.fill("#note", "Tim TRC menuju lokasi")
    bpbd.click("#btn-ack")
    expect(bpbd.locator("#incident-status")).to_have_text("ditanggapi")
    expect(bpbd.locator("#timeline")).to_contain_text("Tim TRC menuju lokasi")

    bpbd.goto(f"{hub.url}/dashboard/#/rapor")
    row = bpbd.locator("#scorecard tr[data-agency=BPBD]")
    expect(row.locator(".handled")).to_have_text("1")
    expect(row).to_contain_text("100%")

    bpbd.goto(f"{hub.url}/dashboard/#/map")
    expect(bpbd.locator("#map .map-node", has_text="slope-07")).to_have_count(1)
    r = httpx.post(f"{hub.url}/api/v1/heartbeat", headers={"Authorization": f"Bearer {token}"},
                   json={"v": 1, "gateway": "gw-bumiaji-01", "ts": int(time.time() * 1000),
                         "uptime_s": 60.0, "buffer": {"depth": 17, "alerts": 0}}, timeout=10)
    assert r.status_code == 200, r.text
    bpbd.goto(f"{hub.url}/dashboard/#/sensors")
    expect(bpbd.locator("#nodes")).to_contain_text("slope-07")
    gateway_row = bpbd.locator("#gateways tr", has_text="gw-bumiaji-01")
    expect(gateway_row).to_contain_text("17")  # its buffer depth, from the heartbeat
    expect(gateway_row).to_contain_text("baik")

    bpbd.select_option("#lang", "en")
    bpbd.goto(f"{hub.url}/dashboard/#/board")
    expect(bpbd.locator("article.inc").first).to_contain_text("Landslide")


def test_wrong_password_is_refused(open_page: OpenPage, hub: LiveHub) -> None:
    hub.staff(agency="BPBD", username="bpbd-sari")
    page = open_page()
    page.goto(f"{hub.url}/dashboard/")
    page.fill("input[name=username]", "bpbd-sari")
    page.fill("input[name=password]", "salah")
    page.keyboard.press("Enter")
    expect(page.locator("#login-error")).not_to_be_empty()
    expect(page.locator("#nav")).to_be_hidden()


def test_api_docs_work_without_internet(open_page: OpenPage, hub: LiveHub) -> None:
    page = open_page()
    page.goto(f"{hub.url}/docs")
    expect(page.locator(".swagger-ui .info")).to_contain_text("Siaga hub")
    expect(page.locator(".opblock-tag", has_text="dashboard")).to_be_visible()
