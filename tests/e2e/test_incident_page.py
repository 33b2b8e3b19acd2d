"""The incident page and board in Chromium: every channel behind a landslide charted (uPlot),
zoom and range picker, CSV export, newest timeline entry first, actions on top on a phone,
the viewer's own agency clock, citizen reports by their text and place."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api_fixtures import LiveHub, make_settings, serve_hub
from tests.e2e.browser import DESKTOP, PHONE, OpenPage, no_sideways_scroll
from tests.e2e.hub_data import alert, ingest, landslide

REGISTRY = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "registry.toml"
CHANNELS = {"rain": "mm", "vwc": "%", "ext": "mm", "tilt": "deg"}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    with serve_hub(make_settings(tmp_path, registry={"file": str(REGISTRY)})) as h:
        yield h


def sign_in(page: Page, hub: LiveHub, username: str) -> None:
    page.goto(f"{hub.url}/dashboard/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "kata-sandi-uji-123")
    page.keyboard.press("Enter")
    expect(page.locator("#who")).to_contain_text(username)


def drawn(page: Page) -> dict[str, str]:
    """The incident chart's dataset, read at once when drawn (a live update may rebuild the
    page between two separate reads)."""
    handle = page.wait_for_function("""() => { const r = document.querySelector('#readings');
        return r && r.dataset.channels ? Object.assign({}, r.dataset) : null; }""")
    value: dict[str, str] = handle.json_value()
    return value


def channels_charted(page: Page) -> set[str]:
    return set(drawn(page)["channels"].split())


def shown_span(page: Page) -> int:
    d = drawn(page)
    return int(d["to"]) - int(d["from"])


def test_landslide_page_charts_every_channel_and_explores_time(open_page: OpenPage,
                                                               hub: LiveHub) -> None:
    hub.staff(agency="BPBD", username="bpbd-andi")
    incident = landslide(hub)
    page = open_page(DESKTOP)
    sign_in(page, hub, "bpbd-andi")
    page.goto(f"{hub.url}/dashboard/#/incident/{incident}")
    readings = page.locator("#readings")
    expect(readings).to_have_attribute("data-channels", re.compile("slope-07"), timeout=5000)
    assert channels_charted(page) == {f"slope-07/{c}" for c in CHANNELS}
    expect(readings.locator(".u-legend")).to_contain_text("slope-07 · tilt (deg)")
    # newest first: the Awas alert on top, the opening at the bottom
    entries = page.locator("#timeline li")
    expect(entries.first).to_contain_text("Awas")
    expect(entries.nth(1)).to_contain_text("Retakan melebar")
    expect(entries.last).to_contain_text("Dibuka")

    # The range picker: 24 h
    page.click("#readings [data-range='24h']")
    expect(readings.locator("[data-range='24h']")).to_have_attribute("aria-pressed", "true")
    span = shown_span(page)
    assert abs(span - 24 * 3600_000) < 60_000, span

    # Drag across the middle of the plot: the range shrinks to the selection.
    over = readings.locator(".u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.90, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.99, y, steps=5)
    page.mouse.up()
    expect(readings.locator("[data-range='custom']")).to_have_attribute("aria-pressed", "true")
    zoomed = shown_span(page)
    assert 0 < zoomed < span / 5, (zoomed, span)

    # CSV of what is shown: a column per channel, rows inside the zoomed range.
    with page.expect_download() as dl:
        page.click("#csv")
    text = Path(dl.value.path()).read_text(encoding="utf-8")
    head, *rows = text.strip().splitlines()
    assert head.startswith("time_utc,time_WIB,") and head.count("slope-07") == 4, head
    assert rows and all(r.count(",") >= 5 for r in rows)


def test_phone_puts_actions_first_and_own_clock_and_reports_read_well(
        open_page: OpenPage, hub: LiveHub) -> None:
    hub.staff(agency="BPBD", username="bpbd-sari")
    incident = landslide(hub)
    kota = hub.gateway("gw-batu-kota-01")
    ingest(hub, kota, "gw-batu-kota-01", alerts=[
        alert("pasar-smoke-01", "fire", 3, "smoke", "Asap 0,42 dB/m")])
    # a citizen far from any open incident: it waits in BPBD's triage queue (landslide)
    r = httpx.post(f"{hub.url}/api/v1/reports", timeout=10, json={
        "lat": -7.8300, "lon": 112.5310, "hazard": "landslide",
        "text": "Tanah retak di belakang rumah warga RT 03"})
    assert r.status_code == 201 and r.json()["status"] == "triage", r.text

    page = open_page(PHONE)
    sign_in(page, hub, "bpbd-sari")
    expect(page.locator("#triage-count")).to_have_text("1")
    page.goto(f"{hub.url}/dashboard/#/reports")
    waiting = page.locator("#triage article.report-card")
    expect(waiting).to_contain_text("Tanah retak di belakang rumah")
    expect(waiting).to_contain_text("Lereng Sumbergondo")  # the nearest site names the place
    assert no_sideways_scroll(page)
    waiting.locator("button.verify").click()  # the incident opens now, on the duty officer's word
    expect(page.locator("#timeline li.tl-verified")).to_contain_text("bpbd-sari")
    expect(page.locator("#triage-count")).to_be_hidden()
    page.goto(f"{hub.url}/dashboard/#/board")
    fire = page.locator("article.inc", has_text="Kebakaran")
    expect(fire.locator(".sla")).to_contain_text("BPBD")  # my clock, not PMK's
    report = page.locator("article.inc", has_text="Laporan warga")
    expect(report).to_contain_text("Tanah retak di belakang rumah")
    expect(report).to_contain_text("Lereng Sumbergondo")  # the nearest site
    expect(page.locator("#board")).not_to_contain_text("report:")
    expect(page.locator("#board")).not_to_contain_text("geo:")
    assert no_sideways_scroll(page)

    page.goto(f"{hub.url}/dashboard/#/incident/{incident}")
    ack = page.locator("#btn-ack")
    expect(ack).to_be_visible()
    box = ack.bounding_box()
    assert box is not None and box["y"] + box["height"] < PHONE["height"], box
    timeline = page.locator("#timeline").bounding_box()
    assert timeline is not None and timeline["y"] > box["y"]
    expect(page.locator("#readings")).to_have_attribute("data-channels", re.compile("slope-07"),
                                                        timeout=5000)
    assert channels_charted(page) == {f"slope-07/{c}" for c in CHANNELS}
    assert no_sideways_scroll(page)

    page.goto(f"{hub.url}/dashboard/#/board")
    page.locator("article.inc", has_text="Laporan warga").click()
    entry = page.locator("#timeline li.tl-report")
    expect(entry).to_contain_text("Tanah retak di belakang rumah warga RT 03")
    expect(entry).to_contain_text("Lereng Sumbergondo")


def test_one_channel_of_several_nodes_shares_one_axis(open_page: OpenPage, hub: LiveHub) -> None:
    # Two smoke nodes at the market: a scale per series drew two ppm axes, and the same
    # threshold at two heights (found running the demo).
    hub.staff(agency="PMK", username="pmk-budi")
    token = hub.gateway("gw-batu-kota-01")
    now = int(time.time() * 1000)
    ingest(hub, token, "gw-batu-kota-01", readings=[
        (node, ch, base + i * step, unit, now - (20 - i) * 60_000)
        for node, scale in (("pasar-smoke-01", 1.0), ("pasar-smoke-02", 0.5))
        for ch, unit, base, step in (("smoke", "ppm", 10.0, 12.0 * scale),
                                     ("temp", "degC", 24.0, 0.5 * scale))
        for i in range(20)])
    ingest(hub, token, "gw-batu-kota-01", alerts=[
        alert(node, "fire", 3, "smoke", "Asap melewati ambang Siaga 150 ppm",
              thresholds={"siaga_ppm": 150.0})
        for node in ("pasar-smoke-01", "pasar-smoke-02")])
    page = open_page(DESKTOP)
    sign_in(page, hub, "pmk-budi")
    page.locator("article.inc").first.click()
    assert {"pasar-smoke-01/smoke", "pasar-smoke-02/smoke"} <= channels_charted(page)
    names = {c.split("/")[1] for c in channels_charted(page)}
    # the time axis, then one axis per channel name
    expect(page.locator("#readings .u-axis")).to_have_count(1 + len(names))


def test_a_duty_officer_rejects_a_report_with_a_reason_and_the_queue_follows_live(
        open_page: OpenPage, hub: LiveHub) -> None:
    hub.staff(agency="PMK", username="pmk-budi")
    page = open_page(DESKTOP)
    sign_in(page, hub, "pmk-budi")
    page.goto(f"{hub.url}/dashboard/#/reports")
    expect(page.locator(".empty")).to_be_visible()
    # a report arriving while the page is open shows up by the live stream
    r = httpx.post(f"{hub.url}/api/v1/reports", timeout=10, json={
        "lat": -7.8650, "lon": 112.5200, "hazard": "fire", "contact": "0812 1111 2222",
        "text": "Kebakaran besar, cepat datang!!!"})
    assert r.status_code == 201, r.text
    card = page.locator("#triage article.report-card")
    expect(card).to_contain_text("Kebakaran besar, cepat datang!!!")
    expect(card).to_contain_text("0812 1111 2222")  # the officer can call back
    expect(page.locator("#triage-count")).to_have_text("1")
    card.locator("button.reject").click()
    expect(card.locator(".msg")).to_have_text("Tulis alasan penolakan dulu.")
    card.locator("input[name=reason]").fill("Ditelepon: nomor tidak aktif, tidak ada asap")
    card.locator("button.reject").click()
    expect(page.locator(".empty")).to_be_visible()
    expect(page.locator("#triage-count")).to_be_hidden()
    assert httpx.get(f"{hub.url}/metrics", timeout=10).text.count(
        'siaga_reports_total{outcome="rejected"} 1') == 1
