"""Issue 12 case 4: a gateway writes only for its own nodes and sites (api/ingest/ownership.py),
through the real HTTP ingest of a hub loaded with the demo registry
(deploy/demo/registry.toml: slope-* at bumiaji-slope via gw-bumiaji-01, pasar-* at pasar-batu
via gw-batu-kota-01)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from siaga.api.settings import HubSettings
from tests.api_fixtures import asgi_hub

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "demo" / "registry.toml"
T0 = 1_795_000_000_000
GW = "gw-batu-kota-01"


def reading(i: int, node: str) -> dict[str, Any]:
    return {"id": i, "node": node, "channel": "temp", "value": 30.0, "unit": "degC",
            "ts": T0 + i, "rx": T0 + i, "seq": i, "src": "serial", "raw": None,
            "skew": False, "reset": False, "backfill": False}


def alert(i: int, node: str, site: str | None) -> dict[str, Any]:
    return {"id": i, "node": node, "site": site, "hazard": "fire", "level": 4,
            "previous_level": 1, "detector": "fire", "channel": "smoke", "ts": T0 + i,
            "explanation": "x", "explanation_en": "x", "values": {}, "thresholds": {},
            "window_s": 0, "backfill": False}


def batch(readings: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> bytes:
    return json.dumps({"v": 1, "gateway": GW, "batch": f"{GW}:{len(readings)}",
                       "sent_at": T0, "readings": readings, "alerts": alerts}).encode()


async def test_a_gateway_writes_only_for_its_nodes_and_sites(
    hub_settings_factory: Callable[..., HubSettings],
) -> None:
    settings = hub_settings_factory(registry={"file": str(DEMO)},
                                    ingest={"enrol_unknown_nodes": False})
    async with asgi_hub(settings) as hub:
        token = await hub.gateway(GW)
        headers = {"Authorization": f"Bearer {token}"}
        body = batch(
            [reading(1, "pasar-smoke-01"), reading(2, "slope-07"), reading(3, "ghost-01")],
            [alert(10, "pasar-smoke-01", "pasar-batu"),     # its own: stored
             alert(11, "pasar-smoke-01", "bumiaji-slope"),  # its node, another's site
             alert(12, "slope-07", None),                   # another gateway's node
             alert(13, "ghost-02", "pasar-batu")])          # unregistered, may not enrol
        r = await hub.client.post("/api/v1/ingest", content=body, headers=headers)
        assert r.status_code == 200, r.text
        refused = [(i["kind"], i["index"], i["id"]) for i in r.json()["rejected_items"]]
        assert refused == [("reading", 1, 2), ("reading", 2, 3), ("alert", 1, 11),
                           ("alert", 2, 12), ("alert", 3, 13)]
        reasons = [i["reason"] for i in r.json()["rejected_items"]]
        assert "belongs to gateway 'gw-bumiaji-01'" in reasons[0]
        assert "may not enrol" in reasons[1]
        assert "'bumiaji-slope' is not a site of gateway" in reasons[2]
        assert r.json()["stored"] == 1
        assert await hub.services.telemetry.readings("slope-07", "temp", T0, T0 + 10) == []
        stored = await hub.services.telemetry.readings("pasar-smoke-01", "temp", T0, T0 + 10)
        assert [p.seq for p in stored] == [1]
        metrics = (await hub.client.get("/metrics")).text
        for reason, n in (("foreign_node", 2), ("unknown_node", 2), ("foreign_site", 1)):
            assert (f'siaga_ingest_refused_items_total{{gateway="{GW}",reason="{reason}"}} {n}'
                    in metrics), metrics

        # the admin view serves the same counts, with when and the latest item of each
        admin = await hub.staff(role="admin", agency="DISKOMINFO")
        r = await hub.client.get("/api/v1/admin/ingest-refusals", headers=admin.headers)
        assert r.status_code == 200, r.text
        by_reason = {x["reason"]: x for x in r.json()}
        assert {k: (x["gateway"], x["count"]) for k, x in by_reason.items()} == {
            "foreign_node": (GW, 2), "unknown_node": (GW, 2), "foreign_site": (GW, 1)}
        assert all(abs(x["last_at"] - time.time()) < 60 for x in r.json())
        example = by_reason["foreign_node"]["example"]
        assert (example["batch"], example["kind"], example["index"], example["id"],
                example["node"]) == (f"{GW}:3", "alert", 2, 12, "slope-07")
        assert "belongs to gateway 'gw-bumiaji-01'" in example["reason"]
        assert by_reason["foreign_site"]["example"]["site"] == "bumiaji-slope"
        viewer = await hub.staff(role="viewer", agency="DISKOMINFO")
        r = await hub.client.get("/api/v1/admin/ingest-refusals", headers=viewer.headers)
        assert r.status_code == 403


async def test_enrolling_gateways_may_write_unknown_nodes_but_only_at_their_sites(
    hub_settings_factory: Callable[..., HubSettings],
) -> None:
    settings = hub_settings_factory(registry={"file": str(DEMO)},
                                    ingest={"enrol_unknown_nodes": [GW]})
    async with asgi_hub(settings) as hub:
        token = await hub.gateway(GW)
        body = batch([reading(1, "ghost-01")],
                     [alert(10, "ghost-01", "pasar-batu"), alert(11, "ghost-01", "bumiaji-slope")])
        r = await hub.client.post("/api/v1/ingest", content=body,
                                  headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert [(i["kind"], i["index"]) for i in r.json()["rejected_items"]] == [("alert", 1)]
        assert r.json()["stored"] == 1


async def test_by_default_unknown_nodes_are_enrolled_only_while_the_registry_lists_none(
    hub_settings_factory: Callable[..., HubSettings],
) -> None:
    """``ingest.enrol_unknown_nodes = "auto"``: a fresh hub without a registry takes any node
    (first use needs no registry); once the registry lists nodes, a made-up one is refused
    with a reason that says how to let it in."""
    async with asgi_hub(hub_settings_factory()) as fresh:
        token = await fresh.gateway(GW)
        r = await fresh.client.post("/api/v1/ingest", content=batch([reading(1, "ghost-01")], []),
                                    headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert (r.json()["stored"], r.json()["rejected_items"]) == (1, [])
    async with asgi_hub(hub_settings_factory(registry={"file": str(DEMO)})) as registered:
        token = await registered.gateway(GW)
        r = await registered.client.post(
            "/api/v1/ingest", content=batch([reading(2, "pasar-smoke-01"), reading(3, "ghost-02")],
                                            []),
            headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert r.json()["stored"] == 1
        [refused] = r.json()["rejected_items"]
        assert (refused["index"], refused["id"]) == (1, 3)
        assert "register the node" in refused["reason"]
        assert "ingest.enrol_unknown_nodes" in refused["reason"]
