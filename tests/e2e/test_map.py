"""The map in Chromium: an offline PMTiles basemap, the registry, incidents by level, labels.

The hub serves a small raster PMTiles archive the test writes itself (tests/e2e/basemap.py);
the page must draw its tiles by range requests, with nothing fetched from outside loopback
(the open_page fixture fails the test otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Response, expect

from tests.api_fixtures import LiveHub, make_settings, serve_hub
from tests.e2e.basemap import write_raster_pmtiles
from tests.e2e.browser import DESKTOP, PHONE, OpenPage
from tests.e2e.hub_data import alert, ingest

REGISTRY = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "registry.toml"
KOTA_BATU = (-7.90, 112.50, -7.81, 112.57)  # south, west, north, east


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    basemap = tmp_path / "batu.pmtiles"
    write_raster_pmtiles(basemap, KOTA_BATU, range(10, 17))
    settings = make_settings(tmp_path, registry={"file": str(REGISTRY)},
                             dashboard={"basemap": str(basemap)})
    with serve_hub(settings) as h:
        yield h


def sign_in(page: Page, hub: LiveHub, username: str) -> None:
    page.goto(f"{hub.url}/dashboard/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "kata-sandi-uji-123")
    page.keyboard.press("Enter")
    expect(page.locator("#who")).to_contain_text(username)


def visible_label_boxes(page: Page) -> list[dict[str, float]]:
    return page.evaluate("""() => [...document.querySelectorAll('#map .map-label')]
      .filter(el => getComputedStyle(el).visibility !== 'hidden')
      .map(el => { const r = el.getBoundingClientRect();
                   return {x: r.left, y: r.top, w: r.width, h: r.height,
                           text: el.textContent}; })""")


def overlapping(boxes: list[dict[str, float]]) -> list[tuple[object, object]]:
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] \
                    and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]:
                out.append((a["text"], b["text"]))
    return out


def test_map_draws_basemap_registry_and_incidents_without_overlap(
        open_page: OpenPage, hub: LiveHub) -> None:
    hub.staff(agency="BPBD", username="admin-rina", role="admin")
    kota = hub.gateway("gw-batu-kota-01")
    bumiaji = hub.gateway("gw-bumiaji-01")
    # Fire and crowd at the same market: their labels would sit on top of each other.
    ingest(hub, kota, "gw-batu-kota-01", alerts=[
        alert("pasar-smoke-01", "fire", 4, "smoke", "Asap 0,42 dB/m"),
        alert("pasar-gate-01", "crowd", 4, "pin", "Kepadatan 4,1 orang/m²")])
    ingest(hub, bumiaji, "gw-bumiaji-01", alerts=[
        alert("slope-07", "landslide", 3, "rain", "Curah hujan 3 jam 78 mm")])

    page = open_page(DESKTOP)
    ranges: list[Response] = []
    page.on("response", lambda r: ranges.append(r) if r.url.endswith("basemap.pmtiles") else None)
    sign_in(page, hub, "admin-rina")
    page.goto(f"{hub.url}/dashboard/#/map")
    box = page.locator("#map")
    expect(box).to_have_attribute("data-basemap", "raster")
    # Tiles drawn from the archive (blob: images Leaflet marks loaded), fetched by range.
    expect(box.locator(".leaflet-tile-loaded").first).to_be_visible(timeout=5000)
    assert any(r.status == 206 for r in ranges), [r.status for r in ranges]
    assert all(r.request.headers.get("range") for r in ranges)

    # The registry: zones, nodes, gateways (at their site), incidents by level in shape + colour.
    expect(box.locator("path.map-zone")).to_have_count(2)
    expect(box.locator(".map-node")).to_have_count(10)
    expect(box.locator(".map-gateway")).to_have_count(2)
    incidents = box.locator(".map-incident")
    expect(incidents).to_have_count(3)
    expect(box.locator(".map-incident.level-4")).to_have_count(2)
    assert box.locator(".map-incident.level-3 svg path").count() == 1  # triangle
    expect(box.locator(".map-incident.level-3")).to_contain_text("3")  # number, too

    overlaps = overlapping(visible_label_boxes(page))
    assert not overlaps, overlaps

    # Zoom in on the market: both Awas labels fit now, and still never overlap.
    page.locator("#map-incidents button", has_text="Pasar").first.click()
    page.wait_for_timeout(600)
    boxes = visible_label_boxes(page)
    assert not overlapping(boxes), boxes
    assert sum("Awas" in str(b["text"]) for b in boxes) >= 1

    # A new level reaches the map live: the landslide goes to Awas.
    ingest(hub, bumiaji, "gw-bumiaji-01", alerts=[
        alert("slope-07", "landslide", 4, "ext", "Retakan melebar 12 mm/jam")])
    expect(box.locator(".map-incident.level-4")).to_have_count(3, timeout=3000)

    phone = open_page(PHONE)
    sign_in(phone, hub, "admin-rina")
    phone.goto(f"{hub.url}/dashboard/#/map")
    expect(phone.locator("#map .leaflet-tile-loaded").first).to_be_visible(timeout=5000)
    assert not overlapping(visible_label_boxes(phone))



def test_map_without_basemap_draws_the_registry_on_the_agency_area(open_page: OpenPage,
                                                      tmp_path: Path) -> None:
    # BPBD's area: the town centre only (Pasar and Alun-alun), not the Bumiaji slopes
    centre = [-7.876, 112.522, -7.868, 112.531]
    settings = make_settings(tmp_path, registry={"file": str(REGISTRY)},
                             agencies={"BPBD": {"name": "BPBD", "area": centre},
                                       "PMK": {"name": "PMK"}, "SATPOLPP": {"name": "Satpol PP"},
                                       "DISKOMINFO": {"name": "Diskominfo"}})
    with serve_hub(settings) as hub:
        hub.staff(agency="BPBD", username="bpbd-tono")
        page = open_page(DESKTOP)
        sign_in(page, hub, "bpbd-tono")
        page.goto(f"{hub.url}/dashboard/#/map")
        box = page.locator("#map")
        expect(box).to_have_attribute("data-basemap", "none")
        expect(box.locator(".map-node")).to_have_count(10)
        expect(box.locator("path.map-zone")).to_have_count(2)
        assert box.locator(".leaflet-tile").count() == 0
        # the view opened on BPBD's area: it is inside, and the far slopes are not
        shown = page.evaluate("""() => { const b = S.mapView.map.getBounds();
          return [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()]; }""")
        assert shown[0] <= centre[0] and shown[1] <= centre[1]
        assert shown[2] >= centre[2] and shown[3] >= centre[3]
        assert shown[2] < -7.8527, shown  # Lereng Bumiaji lies north of the view


def test_map_opened_from_an_incident_page_shows_the_whole_area(open_page: OpenPage,
                                                               tmp_path: Path) -> None:
    # The incident page's small map sits zoomed on its incident; the map page opened next
    # from the menu kept that view and hid every other site (found running the demo).
    settings = make_settings(tmp_path, registry={"file": str(REGISTRY)})
    with serve_hub(settings) as hub:
        hub.staff(agency="BPBD", username="bpbd-sari")
        ingest(hub, hub.gateway("gw-batu-kota-01"), "gw-batu-kota-01", alerts=[
            alert("pasar-gate-01", "crowd", 4, "pin", "Kepadatan 4,1 orang/m²")])
        page = open_page(DESKTOP)
        sign_in(page, hub, "bpbd-sari")
        page.locator("article.inc").first.click()
        expect(page.locator("#incident-map .map-incident")).to_have_count(1)
        page.locator("#nav a[href='#/map']").click()
        expect(page.locator("#map .map-node")).to_have_count(10)
        shown = page.evaluate("""() => { const b = S.mapView.map.getBounds();
          return [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()]; }""")
        # the registry's extent: Pasar Besar in the south to Sumbergondo in the north
        assert shown[0] <= -7.8736 and shown[2] >= -7.8262, shown
        assert shown[1] <= 112.5254 and shown[3] >= 112.5447, shown
