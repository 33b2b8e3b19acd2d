"""Rapor kota in Chromium: a city-wide read-only account compares every agency, week by week,
drills down to the late incidents, exports CSV; dates are dd/mm/yyyy whatever the browser."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.api_fixtures import LiveHub, make_settings, serve_hub
from tests.e2e.browser import DESKTOP, PHONE, OpenPage, no_sideways_scroll
from tests.e2e.hub_data import alert, ingest

REGISTRY = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "registry.toml"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    # Awas must be acknowledged within 1.2 s here, so a responder can be late on purpose.
    settings = make_settings(
        tmp_path, registry={"file": str(REGISTRY)},
        auth={"see_all_agencies": ["DISKOMINFO"]},
        incidents={"sla": {"awas": {"ack_min": 0.02, "resolve_min": 60},
                           "siaga": {"ack_min": 15, "resolve_min": 240},
                           "waspada": {"ack_min": 60, "resolve_min": 720}}})
    with serve_hub(settings) as h:
        yield h


def ack_all(hub: LiveHub, agency: str, headers: dict[str, str]) -> None:
    items = httpx.get(f"{hub.url}/api/v1/incidents", headers=headers, timeout=10).json()
    for inc in items if isinstance(items, list) else items["items"]:
        if inc["agency"] == agency:
            r = httpx.post(f"{hub.url}/api/v1/incidents/{inc['id']}/ack", headers=headers,
                           json={"note": None}, timeout=10)
            assert r.status_code == 200, r.text


def test_city_viewer_compares_agencies_and_drills_into_late_ones(open_page: OpenPage,
                                                                 hub: LiveHub) -> None:
    bpbd = hub.staff(agency="BPBD", username="bpbd-andi")
    pmk = hub.staff(agency="PMK", username="pmk-budi")
    hub.staff(agency="DISKOMINFO", username="kominfo-walikota", role="viewer")
    ingest(hub, hub.gateway("gw-batu-kota-01"), "gw-batu-kota-01", alerts=[
        alert("pasar-smoke-01", "fire", 4, "smoke", "Asap 0,42 dB/m")])
    ack_all(hub, "PMK", pmk.headers)                       # on time
    ingest(hub, hub.gateway("gw-bumiaji-01"), "gw-bumiaji-01", alerts=[
        alert("slope-07", "landslide", 4, "ext", "Retakan melebar 12 mm/jam")])
    time.sleep(1.5)
    ack_all(hub, "BPBD", bpbd.headers)                     # late

    page = open_page(DESKTOP)
    page.goto(f"{hub.url}/dashboard/#/rapor")
    page.fill("input[name=username]", "kominfo-walikota")
    page.fill("input[name=password]", "kata-sandi-uji-123")
    page.keyboard.press("Enter")
    rows = page.locator("#scorecard tr[data-agency]")
    expect(rows).to_have_count(4)  # every configured agency side by side
    expect(page.locator("#scorecard tr[data-agency=BPBD]")).to_contain_text("RAPOR MERAH")
    expect(page.locator("#scorecard tr[data-agency=PMK] .handled")).to_have_text("1")
    expect(page.locator("#scorecard tr[data-agency=PMK]")).to_contain_text("100%")
    for field in ("#rapor-from", "#rapor-to"):
        assert re.fullmatch(r"\d\d/\d\d/\d{4}", page.input_value(field)), page.input_value(field)
    expect(page.locator("#rapor-out .u-over")).to_have_count(2)  # share and median/p90 charts
    expect(page.locator("#rapor-weeks tr")).to_have_count(9)    # 8 weeks and the header

    page.locator("#scorecard tr[data-agency=BPBD] button").click()
    late = page.locator("#rapor-late")
    expect(late).to_contain_text("Tanah longsor")
    expect(late).not_to_contain_text("Kebakaran")

    with page.expect_download() as dl:
        page.click("#rapor-csv")
    csv = Path(dl.value.path()).read_text(encoding="utf-8").splitlines()
    assert csv[0].startswith("period,agency,handled,")
    bpbd_total = next(line for line in csv if line.startswith("total,BPBD,"))
    assert re.match(r"total,BPBD,\d+,0,", bpbd_total) and bpbd_total.endswith(",true"), bpbd_total

    # a typed date that is not dd/mm/yyyy is refused with a message, not guessed
    page.fill("#rapor-from", "2026-12-01")
    page.click("#rapor-show")
    expect(page.locator(".error[role=alert]")).to_contain_text("hh/bb/tttt")

    # read-only: the viewer's incident page offers no action
    page.locator("#rapor-late a").first.click()
    expect(page.locator("#btn-ack")).to_be_disabled()

    phone = open_page(PHONE)
    phone.goto(f"{hub.url}/dashboard/#/rapor")
    phone.fill("input[name=username]", "kominfo-walikota")
    phone.fill("input[name=password]", "kata-sandi-uji-123")
    phone.keyboard.press("Enter")
    expect(phone.locator("#scorecard tr[data-agency]")).to_have_count(4)
    assert no_sideways_scroll(phone)

