"""Admin pages in Chromium: an admin creates a user who then signs in, sees what ingest refused
of a gateway writing another's node, issues a gateway token, adds a site by clicking the map,
and sees it all in the audit log; a viewer reaches none of it
(the page says so and the API refuses with 403)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.api_fixtures import LiveHub, make_settings, serve_hub
from tests.e2e.browser import DESKTOP, PHONE, OpenPage, no_sideways_scroll
from tests.e2e.hub_data import ingest

REGISTRY = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "registry.toml"
PASSWORD = "kata-sandi-uji-123"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LiveHub]:
    with serve_hub(make_settings(tmp_path, registry={"file": str(REGISTRY)})) as h:
        yield h


def sign_in(page: Page, hub: LiveHub, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{hub.url}/dashboard/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.keyboard.press("Enter")
    expect(page.locator("#who")).to_contain_text(username)


def test_admin_pages(open_page: OpenPage, hub: LiveHub) -> None:
    hub.staff(agency="DISKOMINFO", username="admin-tari", role="admin")
    page = open_page(DESKTOP)
    sign_in(page, hub, "admin-tari")
    expect(page.locator("#nav-admin")).to_be_visible()
    page.click("#nav-admin")

    # a new responder, who then signs in
    form = page.locator("#user-form")
    form.locator("[name=new-username]").fill("pmk-wati")
    form.locator("[name=new-name]").fill("Wati")
    form.locator("[name=new-agency]").select_option("PMK")
    form.locator("[name=new-role]").select_option("responder")
    form.locator("[name=new-password]").fill("sandi-wati-2026")
    form.locator("button[type=submit]").click()
    expect(page.locator("#users tr[data-user=pmk-wati]")).to_contain_text("Wati")
    other = open_page(PHONE)
    sign_in(other, hub, "pmk-wati", "sandi-wati-2026")
    expect(other.locator("#nav-admin")).to_be_hidden()

    # disable her: she cannot sign in any more
    page.locator("#users tr[data-user=pmk-wati] [data-act=toggle]").click()
    expect(page.locator("#users tr[data-user=pmk-wati]")).to_contain_text("nonaktif")

    # a gateway writing another gateway's node is refused; the admin sees it per gateway
    now = int(time.time() * 1000)
    ingest(hub, hub.gateway("gw-batu-kota-01"), "gw-batu-kota-01",
           readings=[("slope-07", "vwc", 31.0, "%", now), ("slope-07", "vwc", 31.5, "%", now + 1)])

    # a gateway token, shown once
    page.click(".tabs a[href='#/admin/gateways']")
    refused = page.locator("#ingest-refusals tr[data-gateway=gw-batu-kota-01]")
    expect(refused).to_have_count(1)
    expect(refused).to_have_attribute("data-reason", "foreign_node")
    expect(refused.locator("td").nth(1)).to_have_text("node milik gateway lain")
    expect(refused.locator("td").nth(2)).to_have_text("2")
    expect(refused.locator("td").nth(4)).to_contain_text("reading slope-07")
    expect(refused.locator("td").nth(4)).to_contain_text("belongs to gateway 'gw-bumiaji-01'")
    page.locator("#gateway-tokens tr[data-gateway=gw-bumiaji-01] [data-act=issue]").click()
    expect(page.locator("#token-shown code.token")).to_have_text(re.compile(r"^\S{30,}$"))
    expect(page.locator("#gateway-tokens tr[data-gateway=gw-bumiaji-01]")).to_contain_text("terbit")

    # a new site, its position picked on the map
    page.click(".tabs a[href='#/admin/registry']")
    page.fill("#reg-id", "kali-brantas")
    page.fill("#reg-name", "Bantaran Kali Brantas")
    box = page.locator("#registry-map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.6)
    lat, lon = float(page.input_value("#reg-lat")), float(page.input_value("#reg-lon"))
    assert -7.95 < lat < -7.75 and 112.45 < lon < 112.62, (lat, lon)
    page.locator("#registry-form button[type=submit]").click()
    expect(page.locator("#registry tr[data-entry='site:kali-brantas']")).to_be_visible()
    # edit it: the form is filled from the entry, a new name is saved over it
    page.locator("#registry tr[data-entry='site:kali-brantas'] [data-act=edit]").click()
    assert page.input_value("#reg-lat") == str(lat)
    page.fill("#reg-name", "Bantaran Kali Brantas (Temas)")
    page.locator("#registry-form button[type=submit]").click()
    expect(page.locator("#registry tr[data-entry='site:kali-brantas']")).to_contain_text("(Temas)")

    page.click(".tabs a[href='#/admin/audit']")
    audit = page.locator("#audit")
    for action in ("user.create", "user.update", "gateway.token.issue", "registry.site.put"):
        expect(audit).to_contain_text(action)
    expect(audit).not_to_contain_text("sandi-wati-2026")
    assert no_sideways_scroll(page)


def test_a_viewer_cannot_reach_admin_pages(open_page: OpenPage, hub: LiveHub) -> None:
    hub.staff(agency="DISKOMINFO", username="kominfo-lia", role="viewer")
    page = open_page(PHONE)
    sign_in(page, hub, "kominfo-lia")
    expect(page.locator("#nav-admin")).to_be_hidden()
    page.goto(f"{hub.url}/dashboard/#/admin/users")
    expect(page.locator("#admin-denied")).to_be_visible()
    # and the API, asked directly with the viewer's own token, refuses
    statuses = page.evaluate("""async () => {
      const headers = { Authorization: `Bearer ${sessionStorage.getItem('siaga.token')}` };
      const paths = ['/api/v1/admin/users', '/api/v1/admin/audit', '/api/v1/admin/gateway-tokens',
                     '/api/v1/admin/ingest-refusals'];
      return Promise.all(paths.map(p => fetch(p, { headers }).then(r => r.status)));
    }""")
    assert statuses == [403, 403, 403, 403]
    assert no_sideways_scroll(page)
