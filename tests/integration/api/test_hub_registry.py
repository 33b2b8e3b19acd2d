"""Registry API: reads for staff, admin edits persisted across restarts, errors as problems."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from siaga.api.settings import HubSettings
from tests.api_fixtures import AsgiHub, asgi_hub

pytestmark = pytest.mark.anyio

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "demo" / "registry.toml"


@pytest.fixture
def demo_settings(hub_settings_factory: Callable[..., HubSettings]) -> HubSettings:
    return hub_settings_factory(registry={"file": str(DEMO)})


@pytest.fixture
async def demo_hub(demo_settings: HubSettings) -> AsyncIterator[AsgiHub]:
    async with asgi_hub(demo_settings) as h:
        yield h


async def test_any_staff_reads_the_registry(demo_hub: AsgiHub) -> None:
    viewer = await demo_hub.staff(role="viewer", agency="SATPOLPP")
    whole = (await demo_hub.client.get("/api/v1/registry", headers=viewer.headers)).json()
    assert {s["id"] for s in whole["sites"]} >= {"bumiaji-slope", "pasar-batu",
                                                   "alun-alun-batu"}
    node = (await demo_hub.client.get("/api/v1/registry/nodes/slope-07",
                                      headers=viewer.headers)).json()
    assert node["kecamatan"] == "Bumiaji" and node["calibration"]["mm_per_tip"] == 0.2
    market = await demo_hub.client.get("/api/v1/registry/nodes", params={"site": "pasar-batu"},
                                       headers=viewer.headers)
    assert {n["node"] for n in market.json()} == {"pasar-smoke-01", "pasar-smoke-02",
                                                  "pasar-gate-01"}
    site = await demo_hub.client.get("/api/v1/registry/sites/alun-alun-batu",
                                     headers=viewer.headers)
    assert site.json()["desa"] == "Sisir"
    gws = await demo_hub.client.get("/api/v1/registry/gateways", headers=viewer.headers)
    assert len(gws.json()) == 2


async def test_reads_need_a_token(demo_hub: AsgiHub) -> None:
    r = await demo_hub.client.get("/api/v1/registry/sites")
    assert r.status_code == 401 and "www-authenticate" in r.headers


async def test_unknown_entries_are_404_problems(demo_hub: AsgiHub) -> None:
    viewer = await demo_hub.staff(role="viewer")
    for path, detail in (("sites/nowhere", "no site 'nowhere'"),
                         ("nodes/nothing", "no node 'nothing'"),
                         ("gateways/gw-none", "no gateway 'gw-none'")):
        r = await demo_hub.client.get(f"/api/v1/registry/{path}", headers=viewer.headers)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"] == detail


async def test_admin_edits_persist_across_restart(demo_settings: HubSettings) -> None:
    async with asgi_hub(demo_settings) as h:
        admin = await h.staff(role="admin", username="admin-1")
        site = {"name": "Sungai Brantas Junggo", "desa": "Tulungrejo", "kecamatan": "Bumiaji",
                "lat": -7.8138, "lon": 112.5410, "kind": "river"}
        r = await h.client.put("/api/v1/registry/sites/brantas-junggo", json=site,
                               headers=admin.headers)
        assert r.status_code == 201, r.text
        node = {"site": "brantas-junggo", "gateway": "gw-bumiaji-01", "channels": ["rain"],
                "calibration": {"mm_per_tip": 0.5}}
        r = await h.client.put("/api/v1/registry/nodes/river-01", json=node,
                               headers=admin.headers)
        assert r.status_code == 201
        assert r.json()["lat"] == -7.8138 and r.json()["desa"] == "Tulungrejo"
        node["calibration"] = {"mm_per_tip": 0.25}
        r = await h.client.put("/api/v1/registry/nodes/river-01", json=node,
                               headers=admin.headers)
        assert r.status_code == 200
        edited = {"site": "bumiaji-slope", "gateway": "gw-bumiaji-01",
                  "channels": ["vwc"], "calibration": {"soil_saturation": 47}}
        r = await h.client.put("/api/v1/registry/nodes/slope-07", json=edited,
                               headers=admin.headers)
        assert r.status_code == 200
    async with asgi_hub(demo_settings) as h:
        assert h.services.registry.node("river-01").calibration == {"mm_per_tip": 0.25}
        assert h.services.registry.node("slope-07").calibration == {"soil_saturation": 47}


async def test_every_put_and_delete_is_audited_under_its_kind(demo_hub: AsgiHub) -> None:
    admin = await demo_hub.staff(role="admin", username="admin-1")
    bodies = {"sites": {"name": "Sungai Brantas Junggo", "lat": -7.8138, "lon": 112.5410},
              "nodes": {"site": "pasar-batu", "channels": ["smoke"]},
              "gateways": {"name": "Gateway cadangan", "site": "pasar-batu"}}
    for kind, body in bodies.items():
        path = f"/api/v1/registry/{kind}/new-entry"
        created = await demo_hub.client.put(path, json=body, headers=admin.headers)
        replaced = await demo_hub.client.put(path, json=body, headers=admin.headers)
        deleted = await demo_hub.client.delete(path, headers=admin.headers)
        assert (created.status_code, replaced.status_code, deleted.status_code) == (
            201, 200, 204), (kind, created.text, replaced.text, deleted.text)
    log = (await demo_hub.client.get("/api/v1/admin/audit", headers=admin.headers)).json()
    assert [(e["action"], e["target"], e["actor"]) for e in reversed(log)] == [
        (f"registry.{kind}.{step}", "new-entry", "admin-1")
        for kind in ("site", "node", "gateway") for step in ("put", "put", "delete")]


async def test_invalid_edits_are_422_problems_naming_the_field(demo_hub: AsgiHub) -> None:
    admin = await demo_hub.staff(role="admin")
    r = await demo_hub.client.put("/api/v1/registry/sites/x", headers=admin.headers,
                                  json={"name": "x", "lat": -97, "lon": 112.5})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "lat"]
    r = await demo_hub.client.put("/api/v1/registry/nodes/n9", headers=admin.headers,
                                  json={"site": "atlantis"})
    assert r.status_code == 422 and "no site 'atlantis'" in r.json()["detail"]
    r = await demo_hub.client.put("/api/v1/registry/nodes/n9", headers=admin.headers,
                                  json={"site": "pasar-batu", "calibration": {"tips": 1}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "calibration", "tips"]
    r = await demo_hub.client.put("/api/v1/registry/sites/bad%20id", headers=admin.headers,
                                  json={"name": "x", "lat": 0, "lon": 0})
    assert r.status_code == 422


async def test_delete_in_use_is_409_and_gateway_delete_revokes_token(demo_hub: AsgiHub) -> None:
    admin = await demo_hub.staff(role="admin")
    r = await demo_hub.client.delete("/api/v1/registry/sites/pasar-batu", headers=admin.headers)
    assert r.status_code == 409 and "still used by" in r.json()["detail"]
    token = await demo_hub.gateway("gw-spare")
    assert await demo_hub.services.gateway_tokens.gateway_for_token(token) == "gw-spare"
    r = await demo_hub.client.delete("/api/v1/registry/gateways/gw-spare", headers=admin.headers)
    assert r.status_code == 204
    assert demo_hub.services.registry.gateway("gw-spare") is None
    from siaga.api.errors import Unauthorized

    with pytest.raises(Unauthorized):
        await demo_hub.services.gateway_tokens.gateway_for_token(token)
    r = await demo_hub.client.delete("/api/v1/registry/nodes/pasar-gate-01",
                                     headers=admin.headers)
    assert r.status_code == 204
    r = await demo_hub.client.delete("/api/v1/registry/nodes/pasar-gate-01",
                                     headers=admin.headers)
    assert r.status_code == 404
