"""The public report page (/lapor/) in Chromium at phone size: a citizen picks the place by
tapping the offline map, sends, and sees the confirmation; the same report sent again at once
gets the rate limit's message. Also: the bytes the page loads, no login anywhere, the English
switch, and the page switched off in config."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.api_fixtures import LiveHub, make_settings, serve_hub
from tests.e2e.basemap import write_raster_pmtiles
from tests.e2e.browser import ARTIFACTS, PHONE, OpenPage, no_sideways_scroll, shot

REGISTRY = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "registry.toml"
KOTA_BATU = (-7.90, 112.50, -7.81, 112.57)  # south, west, north, east
INITIAL_BUDGET = 20_000  # bytes on the wire before the map is asked for


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    basemap = tmp_path / "batu.pmtiles"
    write_raster_pmtiles(basemap, KOTA_BATU, range(10, 17))
    settings = make_settings(
        tmp_path, registry={"file": str(REGISTRY)}, dashboard={"basemap": str(basemap)},
        agencies={"BPBD": {"name": "BPBD Kota Batu", "area": list(KOTA_BATU)},
                  "PMK": {"name": "Damkar Kota Batu"}},
        incidents={"report_limit_per_address": 1, "check_interval_s": 3600})
    with serve_hub(settings) as h:
        yield h


class Wire:
    """Bytes the page received (body as sent, headers included), per phase."""

    def __init__(self, page: Page) -> None:
        self.requests: list[Request] = []
        page.on("requestfinished", lambda r: self.requests.append(r))

    def total(self) -> int:
        out = 0
        for r in self.requests:
            sizes = r.sizes()
            out += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        return out


# What issue 12's security headers will say: no inline script or handler, nothing foreign.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def strict_csp(page: Page) -> list[str]:
    """Serve /lapor/ with ``CSP`` (the hub's own answer, one header added) and collect what
    Chromium refuses under it."""
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text else None)

    def with_csp(route: Route) -> None:
        answer = route.fetch()
        route.fulfill(response=answer,
                      headers={**answer.headers, "content-security-policy": CSP})

    page.route("**/lapor/", with_csp)
    return refused


def fill(page: Page, text: str) -> None:
    page.locator("label", has_text="Kebakaran").click()
    page.fill("#text", text)
    page.fill("#contact", "0812 3456 7890")


def test_a_citizen_reports_by_tapping_the_map_then_hits_the_limit(
        open_page: OpenPage, hub: LiveHub) -> None:
    page = open_page(PHONE)
    wire = Wire(page)
    refused = strict_csp(page)
    page.goto(f"{hub.url}/lapor/")
    expect(page.locator("h1, legend").first).to_be_visible()
    expect(page.locator("legend").first).to_have_text("Apa yang terjadi?")
    page.wait_for_load_state("networkidle")
    initial = wire.total()
    assert not any("/api/v1/auth" in r.url or "/dashboard/assets/vendor" in r.url
                   for r in wire.requests)  # no login, no dashboard bundle
    assert initial < INITIAL_BUDGET, initial
    assert no_sideways_scroll(page)
    shot(page, "lapor-phone")

    fill(page, "Asap hitam keluar dari gudang di belakang pasar")
    page.click("#send")
    expect(page.locator("#msg")).to_have_text("Tentukan lokasinya: GPS atau ketuk peta.")

    page.click("#pick")
    box = page.locator("#map")
    expect(box).to_have_attribute("data-ready", "1")
    expect(box.locator(".leaflet-tile-loaded").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    with_map = wire.total()
    box.click(position={"x": 200, "y": 150})  # a tap on the offline map
    expect(page.locator("#where")).to_contain_text("Lokasi: -7.")
    expect(box.locator(".pin")).to_have_count(1)
    page.click("#send")
    done = page.locator("#done")
    expect(done).to_be_visible()
    expect(done).to_contain_text("Terima kasih, laporan Anda diterima.")
    expect(page.locator("#done-text")).to_contain_text(
        "menunggu pemeriksaan petugas Damkar Kota Batu")
    expect(page.locator("#done-place")).to_contain_text("Tempat: ")
    assert no_sideways_scroll(page)
    shot(page, "lapor-done-phone")

    # the same report again at once: the hub's limit answers 429, the page says when to retry
    page.click("#again")
    fill(page, "Asap hitam keluar dari gudang di belakang pasar")
    page.click("#send")
    expect(page.locator("#msg")).to_contain_text(
        "Terlalu banyak laporan dari perangkat atau nomor ini")
    expect(page.locator("#msg")).to_contain_text("Coba lagi dalam 10 menit")
    expect(page.locator("#report")).to_be_visible()  # what was written stays
    expect(page.locator("#text")).to_have_value("Asap hitam keluar dari gudang di belakang pasar")
    shot(page, "lapor-limited-phone")

    assert refused == []  # nothing the page needs is inline
    figures = {"initial_bytes": initial, "with_map_bytes": with_map,
               "requests": len(wire.requests)}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "lapor-bytes.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(f"report page bytes: {figures}")

    # one report reached the hub, waiting for PMK's duty officer, named by its place
    pmk = hub.staff(agency="PMK", username="pmk-budi")
    waiting = httpx.get(f"{hub.url}/api/v1/reports/triage", headers=pmk.headers, timeout=10).json()
    assert [w["text"] for w in waiting] == ["Asap hitam keluar dari gudang di belakang pasar"]
    assert waiting[0]["contact"] == "0812 3456 7890"
    assert not waiting[0]["place"]["name"].startswith(("report:", "geo:"))


def test_english_switch_and_clear_validation_messages(open_page: OpenPage, hub: LiveHub) -> None:
    page = open_page(PHONE)
    page.goto(f"{hub.url}/lapor/")
    page.click("#lang")
    expect(page.locator("legend").first).to_have_text("What is happening?")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.click("#send")
    expect(page.locator("#msg")).to_have_text("Choose the kind of hazard.")
    page.reload()  # the choice is remembered
    expect(page.locator("#send")).to_have_text("Send report")
    # what the hub refuses, said plainly (the field limits lifted in the page to get there)
    page.locator("label", has_text="Flood").click()
    page.click("#pick")
    expect(page.locator("#map")).to_have_attribute("data-ready", "1")
    page.locator("#map").click(position={"x": 150, "y": 120})
    page.evaluate("document.getElementById('text').removeAttribute('maxlength')")
    page.fill("#text", "a" * 1001)
    page.click("#send")
    expect(page.locator("#msg")).to_have_text(
        "Something is not filled in right: text (1–1000 characters).")
    page.fill("#text", "ꦧ" * 2000)  # Javanese script: 3 bytes each, 6 kB, over the 4 KiB body limit
    page.click("#send")
    expect(page.locator("#msg")).to_have_text("The report is too long. Shorten it and send again.")


def test_the_place_from_the_phones_gps(open_page: OpenPage, hub: LiveHub) -> None:
    page = open_page(PHONE)
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation({"latitude": -7.87165, "longitude": 112.52475, "accuracy": 12})
    wire = Wire(page)
    page.goto(f"{hub.url}/lapor/")
    page.locator("label", has_text="Kepadatan massa").click()
    page.click("#gps")
    expect(page.locator("#where")).to_have_text("Lokasi: -7.87165, 112.52475 (±12 m)")
    page.fill("#text", "Penonton berdesakan di pintu utara, ada yang pingsan")
    page.click("#send")
    expect(page.locator("#done-place")).to_have_text("Tempat: Pasar Besar Batu")  # ~220 m from it
    expect(page.locator("#done-text")).to_contain_text("BPBD")
    assert not [r.url for r in wire.requests if "report-map" in r.url]  # GPS: no map loaded


def test_the_page_can_be_switched_off(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, dashboard={"report_page": False})
    with serve_hub(settings) as h:
        for path in ("/lapor/", "/lapor/config.json", "/lapor"):
            r = httpx.get(f"{h.url}{path}", timeout=10, follow_redirects=False)
            assert r.status_code == 404, path
        r = httpx.post(f"{h.url}/api/v1/reports", timeout=10, json={
            "lat": -7.87, "lon": 112.52, "hazard": "fire", "text": "asap"})
        assert r.status_code == 201  # other clients still report
