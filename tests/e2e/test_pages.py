"""Every page (admin ones too) at the command centre's 1366x768 and a 390x844 phone: no
sideways scroll, and a screenshot of each into tests/artifacts/dashboard/<page>-<size>.png
(docs/img is refreshed from the desktop ones)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api_fixtures import LiveHub, make_settings, serve_hub
from tests.e2e.basemap import write_raster_pmtiles
from tests.e2e.browser import DESKTOP, PHONE, OpenPage, no_sideways_scroll, shot
from tests.e2e.hub_data import alert, ingest, landslide

REGISTRY = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "registry.toml"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    basemap = tmp_path / "batu.pmtiles"
    write_raster_pmtiles(basemap, (-7.90, 112.50, -7.81, 112.57), range(10, 17))
    settings = make_settings(tmp_path, registry={"file": str(REGISTRY)},
                             dashboard={"basemap": str(basemap)})
    with serve_hub(settings) as h:
        yield h


def check(page: Page, name: str, size: str) -> None:
    assert no_sideways_scroll(page), f"{name} scrolls sideways at {size}"
    shot(page, f"{name}-{size}")


def test_every_page_fits_both_sizes(open_page: OpenPage, hub: LiveHub) -> None:
    admin = hub.staff(agency="BPBD", username="admin-dewi", role="admin")
    incident = landslide(hub)
    ingest(hub, hub.gateway("gw-batu-kota-01"), "gw-batu-kota-01", alerts=[
        alert("pasar-smoke-01", "fire", 4, "smoke", "Asap 0,42 dB/m"),
        alert("pasar-gate-01", "crowd", 3, "pin", "Kepadatan 3,2 orang/m²")])
    r = httpx.post(f"{hub.url}/api/v1/reports", timeout=10, json={
        "lat": -7.8300, "lon": 112.5310, "hazard": "landslide",
        "text": "Tanah retak di belakang rumah warga RT 03"})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{hub.url}/api/v1/reports/{r.json()['report_id']}/verify", timeout=10,
                   headers=admin.headers)
    assert r.status_code == 200, r.text
    r = httpx.post(f"{hub.url}/api/v1/reports", timeout=10, json={  # this one stays waiting
        "lat": -7.9000, "lon": 112.5600, "hazard": "flood", "contact": "0812 3456 789",
        "text": "Air sungai naik sampai jalan, arus deras membawa batang kayu"})
    assert r.status_code == 201 and r.json()["status"] == "triage", r.text

    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = open_page(viewport)
        page.goto(f"{hub.url}/dashboard/")
        expect(page.locator("#login-form")).to_be_visible()
        check(page, "login", size)
        page.fill("input[name=username]", "admin-dewi")
        page.fill("input[name=password]", "kata-sandi-uji-123")
        page.keyboard.press("Enter")
        expect(page.locator("article.inc")).to_have_count(4)
        check(page, "board", size)
        page.goto(f"{hub.url}/dashboard/#/reports")
        expect(page.locator("#triage article.report-card")).to_have_count(1)
        check(page, "reports", size)
        page.goto(f"{hub.url}/dashboard/#/incident/{incident}")
        expect(page.locator("#readings .u-over")).to_be_visible()
        check(page, "incident", size)
        page.goto(f"{hub.url}/dashboard/#/map")
        expect(page.locator("#map .leaflet-tile-loaded").first).to_be_visible()
        check(page, "map", size)
        page.goto(f"{hub.url}/dashboard/#/sensors")
        sparks = page.locator("#nodes tr[data-node='slope-07'] .spark-cell")
        expect(sparks.locator("canvas")).to_have_count(4)  # the range's bucket gives points
        assert all(int(n) >= 30 for n in sparks.evaluate_all(
            "els => els.map(e => e.dataset.points)")), "sparklines too sparse"
        check(page, "sensors", size)
        page.goto(f"{hub.url}/dashboard/#/rapor")
        expect(page.locator("#scorecard tr[data-agency]")).to_have_count(4)
        check(page, "rapor", size)
        for tab, ready in (("users", "#users"), ("gateways", "#gateway-tokens"),
                           ("registry", "#registry-map .map-site"), ("audit", "#audit")):
            page.goto(f"{hub.url}/dashboard/#/admin/{tab}")
            expect(page.locator(ready).first).to_be_visible()
            check(page, f"admin-{tab}", size)
        page.goto(f"{hub.url}/docs")
        expect(page.locator(".swagger-ui .info")).to_be_visible()
        check(page, "docs", size)
