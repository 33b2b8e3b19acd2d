"""How the hub serves the built dashboard: hashed assets cached for good, the page revalidated,
Swagger UI from its own copy, and the PMTiles basemap by HTTP range requests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from siaga.api.dashboard_build import ASSETS_DIR
from siaga.api.errors import ConfigError
from tests.api_fixtures import AsgiHub, asgi_hub, make_settings

pytestmark = pytest.mark.usefixtures("dashboard_built")


@pytest.mark.anyio
async def test_index_is_revalidated_and_its_assets_are_immutable(hub: AsgiHub) -> None:
    r = await hub.client.get("/dashboard/")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
    names = re.findall(r'(?:src|href)="(assets/[^"]+)"', r.text)
    assert {n.split("/")[1].split("-")[0] for n in names} >= {"vendor", "app", "map", "style"}
    for name in names:
        a = await hub.client.get(f"/dashboard/{name}")
        assert a.status_code == 200, name
        assert a.headers["cache-control"] == "public, max-age=31536000, immutable"
    # gzip to a client that takes it (httpx decompresses: same bytes), plain to one that does not
    vendor = next(n for n in names if n.startswith("assets/vendor-") and n.endswith(".js"))
    raw = (ASSETS_DIR.parent / vendor).read_bytes()
    zipped = await hub.client.get(f"/dashboard/{vendor}", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == raw
    assert int(zipped.headers["content-length"]) < len(raw) / 2
    assert zipped.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert zipped.headers["content-type"].split(";")[0] in {"text/javascript",
                                                            "application/javascript"}
    plain = await hub.client.get(f"/dashboard/{vendor}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == raw
    # the unbuilt sources are not served, and a missing asset is a plain 404
    assert (await hub.client.get("/dashboard/app.js")).status_code == 404
    assert (await hub.client.get("/dashboard/assets/app-NOPE.js")).status_code == 404


@pytest.mark.anyio
async def test_docs_use_the_hubs_own_swagger_ui(hub: AsgiHub) -> None:
    r = await hub.client.get("/docs")
    assert r.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', r.text) + re.findall(r"url: '([^']+)'", r.text)
    local = ("/dashboard/assets/", "/openapi.json", "data:")
    assert urls and all(u.startswith(local) for u in urls), urls
    for u in urls:
        if u.startswith("/dashboard/"):
            assert (await hub.client.get(u)).status_code == 200
    assert (await hub.client.get("/redoc")).status_code == 404  # ReDoc needs a CDN: off


@pytest.mark.anyio
async def test_basemap_is_served_by_range_requests(tmp_path: Path) -> None:
    archive = tmp_path / "region.pmtiles"
    body = bytes(range(256)) * 64
    archive.write_bytes(body)
    async with asgi_hub(make_settings(tmp_path, dashboard={"basemap": str(archive)})) as hub:
        login = await hub.staff()
        cfg = (await hub.client.get("/api/v1/dashboard/config", headers=login.headers)).json()
        assert cfg["basemap_url"] == "/dashboard/basemap.pmtiles" and cfg["tile_url"] is None
        r = await hub.client.get("/dashboard/basemap.pmtiles", headers={"Range": "bytes=0-126"})
        assert r.status_code == 206 and r.content == body[:127]
        assert r.headers["content-range"] == f"bytes 0-126/{len(body)}"
        r = await hub.client.get("/dashboard/basemap.pmtiles",
                                 headers={"Range": "bytes=16000-16383"})
        assert r.status_code == 206 and r.content == body[16000:]
        r = await hub.client.get("/dashboard/basemap.pmtiles",
                                 headers={"Range": f"bytes={len(body) + 10}-"})
        assert r.status_code == 416


@pytest.mark.anyio
async def test_no_basemap_configured_is_404_and_config_says_so(hub: AsgiHub) -> None:
    login = await hub.staff()
    cfg = (await hub.client.get("/api/v1/dashboard/config", headers=login.headers)).json()
    assert cfg["basemap_url"] is None
    r = await hub.client.get("/dashboard/basemap.pmtiles")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


@pytest.mark.anyio
async def test_config_gives_the_callers_agency_area(tmp_path: Path) -> None:
    agencies = {"BPBD": {"name": "BPBD Kota Batu", "area": [-7.95, 112.45, -7.74, 112.62]},
                "PMK": {"name": "Damkar"}}
    async with asgi_hub(make_settings(tmp_path, agencies=agencies)) as hub:
        bpbd, pmk = await hub.staff(agency="BPBD"), await hub.staff(agency="PMK")
        cfg = (await hub.client.get("/api/v1/dashboard/config", headers=bpbd.headers)).json()
        assert cfg["area"] == [-7.95, 112.45, -7.74, 112.62]
        assert cfg["agencies"] == {"BPBD": "BPBD Kota Batu", "PMK": "Damkar"}
        cfg = (await hub.client.get("/api/v1/dashboard/config", headers=pmk.headers)).json()
        assert cfg["area"] is None


@pytest.mark.parametrize("area", [[-7.74, 112.45, -7.95, 112.62], [-7.95, 112.62, -7.74, 112.45],
                                  [-95, 112.45, -7.74, 112.62], [-7.95, 112.45, -7.74]])
def test_a_wrong_agency_area_is_a_config_error(tmp_path: Path, area: list[float]) -> None:
    with pytest.raises(ConfigError, match=r"agencies\.BPBD\.area"):
        make_settings(tmp_path, agencies={"BPBD": {"name": "BPBD", "area": area}})


SECURITY = {"x-frame-options": "DENY", "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer"}


def _policy(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


@pytest.mark.anyio
async def test_every_answer_carries_the_security_headers(hub: AsgiHub) -> None:
    """Issue 12 case 10: the dashboard and API sent no CSP, X-Frame-Options,
    X-Content-Type-Options or Referrer-Policy."""
    answers = [await hub.client.get(p) for p in (
        "/dashboard/", "/healthz", "/api/v1/incidents", "/no/such/page", "/openapi.json")]
    answers.append(await hub.client.post("/api/v1/reports", content=b"x" * 10_000,
                                         headers={"Content-Type": "application/json"}))
    assert [a.status_code for a in answers] == [200, 200, 401, 404, 200, 413]
    for a in answers:
        for key, value in SECURITY.items():
            assert a.headers[key] == value, (a.url, key)
        policy = _policy(a.headers["content-security-policy"])
        assert policy["script-src"] == ["'self'"]  # no inline script, no eval
        assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
        assert policy["connect-src"] == ["'self'"]


@pytest.mark.anyio
async def test_docs_allow_only_their_own_inline_script_by_nonce(hub: AsgiHub) -> None:
    pages = [await hub.client.get("/docs") for _ in range(2)]
    nonces = []
    for r in pages:
        (nonce,) = re.findall(r"'nonce-([^']+)'", _policy(
            r.headers["content-security-policy"])["script-src"][1])
        inline = re.findall(r"<script( nonce=\"[^\"]*\")?>", r.text)
        assert inline == [f' nonce="{nonce}"']  # the one inline script, and it carries it
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


@pytest.mark.anyio
async def test_head_of_the_dashboard_is_200(hub: AsgiHub) -> None:
    """Issue 12 case 10: HEAD /dashboard/ was 404 (uptime checks use it)."""
    r = await hub.client.head("/dashboard/")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-type"].startswith("text/html")
    assert (await hub.client.head("/dashboard")).status_code == 307


@pytest.mark.anyio
async def test_a_configured_tile_server_may_serve_images(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, dashboard={
        "tile_url": "https://{s}.tile.example.org/{z}/{x}/{y}.png"})
    async with asgi_hub(settings) as hub:
        r = await hub.client.get("/dashboard/")
    images = _policy(r.headers["content-security-policy"])["img-src"]
    assert "https://*.tile.example.org" in images and "'self'" in images
