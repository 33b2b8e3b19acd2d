"""The telemetry query API over data ingested through HTTP, on SQLite and on a real influxd."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from siaga.api.settings import HubSettings
from siaga.simulators.servers import InfluxDB
from tests.api_fixtures import AsgiHub, StaffLogin, asgi_hub
from tests.integration.api.test_hub_ingest_http import GW, T0, auth, make_batch

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

HOUR = 3_600_000


@pytest.fixture(params=["sqlite", "influxdb"])
async def hub_with_data(
    request: pytest.FixtureRequest, hub_settings_factory: Callable[..., HubSettings],
    influxdb: InfluxDB,
) -> AsyncIterator[tuple[AsgiHub, StaffLogin]]:
    telemetry: dict[str, Any] = {}
    if request.param == "influxdb":
        telemetry = {"kind": "influxdb", "url": influxdb.url,
                     "database": f"api_{uuid.uuid4().hex[:10]}"}
    async with asgi_hub(hub_settings_factory(telemetry=telemetry)) as hub:
        token = await hub.gateway(GW)
        batch = make_batch(120)  # two hours of 1-minute vwc readings: 30.0, 31.0, ...
        batch["readings"].append({**batch["readings"][0], "id": 999, "channel": "temp",
                                  "value": 24.5, "unit": "degC", "seq": 999,
                                  "ts": T0 + 30 * 60_000})
        r = await hub.client.post("/api/v1/ingest", json=batch, headers=auth(token))
        assert r.status_code == 200, r.text
        yield hub, await hub.staff(role="viewer")


async def test_raw_readings_over_a_range(hub_with_data: tuple[AsgiHub, StaffLogin]) -> None:
    hub, staff = hub_with_data
    r = await hub.client.get("/api/v1/nodes/slope-07/readings", headers=staff.headers,
                             params={"channel": "vwc", "from": T0 + 10 * 60_000,
                                     "to": T0 + 13 * 60_000})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["unit"] == "%" and doc["from"] == T0 + 10 * 60_000
    assert [(p["ts"], p["value"], p["gateway"]) for p in doc["readings"]] == [
        (T0 + i * 60_000, 30.0 + i, GW) for i in (10, 11, 12)]
    assert "intervals" not in doc


async def test_iso_times_and_limit(hub_with_data: tuple[AsgiHub, StaffLogin]) -> None:
    hub, staff = hub_with_data
    r = await hub.client.get("/api/v1/nodes/slope-07/readings", headers=staff.headers,
                             params={"channel": "vwc", "from": "2026-11-19T05:00:00Z",
                                     "to": "2026-11-19T14:00:00+07:00", "limit": 5})
    assert r.status_code == 200, r.text
    assert r.json()["from"] == 1_795_064_400_000
    assert len(r.json()["readings"]) <= 5


async def test_aggregates_per_interval(hub_with_data: tuple[AsgiHub, StaffLogin]) -> None:
    hub, staff = hub_with_data
    start = T0 - T0 % HOUR
    r = await hub.client.get("/api/v1/nodes/slope-07/readings", headers=staff.headers,
                             params={"channel": "vwc", "from": start, "to": start + 4 * HOUR,
                                     "every": "1h", "agg": "max,mean"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["every"] == HOUR and doc["agg"] == ["mean", "max"]
    values = {T0 + i * 60_000: 30.0 + i for i in range(120)}
    expected: dict[int, list[float]] = {}
    for ts, v in values.items():
        expected.setdefault(ts - ts % HOUR, []).append(v)
    assert [iv["ts"] for iv in doc["intervals"]] == sorted(expected)
    for iv in doc["intervals"]:
        vs = expected[iv["ts"]]
        assert iv["count"] == len(vs) and iv["max"] == max(vs)
        assert iv["mean"] == pytest.approx(sum(vs) / len(vs))
        assert "min" not in iv and "sum" not in iv


async def test_latest_of_every_channel(hub_with_data: tuple[AsgiHub, StaffLogin]) -> None:
    hub, staff = hub_with_data
    r = await hub.client.get("/api/v1/nodes/slope-07/latest", headers=staff.headers)
    assert r.status_code == 200
    assert r.json() == {"node": "slope-07", "channels": [
        {"channel": "temp", "unit": "degC", "ts": T0 + 30 * 60_000, "value": 24.5},
        {"channel": "vwc", "unit": "%", "ts": T0 + 119 * 60_000, "value": 149.0},
    ]}
    r = await hub.client.get("/api/v1/nodes/nobody/latest", headers=staff.headers)
    assert r.json() == {"node": "nobody", "channels": []}


@pytest.mark.parametrize("params", [
    {"channel": "vwc", "every": "fortnight"},
    {"channel": "vwc", "every": "0s"},
    {"channel": "vwc", "agg": "median", "every": "1h"},
    {"channel": "vwc", "agg": "mean"},
    {"channel": "vwc", "from": "yesterday"},
    {"channel": "vwc", "from": "2026-11-19T05:00:00"},
    {"channel": "vwc", "from": 20, "to": 10},
    {"channel": "vwc", "from": 0, "to": 10**12, "every": "1ms"},
    {"channel": "vwc", "limit": 0},
    {"channel": "vwc", "from": "99999999999999999999999"},
    {"channel": "vwc", "from": "-5"},
    {"channel": "vwc", "to": "9999-12-31T00:00:00Z"},
    {"channel": "vwc", "every": "999999999999d"},
    {"channel": "v\nwc"},
    {"channel": "v\\wc"},
    {},
])
async def test_bad_parameters_are_422(
    hub_with_data: tuple[AsgiHub, StaffLogin], params: dict[str, Any],
) -> None:
    hub, staff = hub_with_data
    r = await hub.client.get("/api/v1/nodes/slope-07/readings", headers=staff.headers,
                             params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_a_node_id_no_reading_can_have_is_422(
    hub_with_data: tuple[AsgiHub, StaffLogin],
) -> None:
    hub, staff = hub_with_data
    r = await hub.client.get("/api/v1/nodes/a%0Ab/latest", headers=staff.headers)
    assert r.status_code == 422
    r = await hub.client.get("/api/v1/nodes/it's%20odd/latest", headers=staff.headers)
    assert r.status_code == 200 and r.json()["channels"] == []


async def test_queries_need_a_staff_token(hub_with_data: tuple[AsgiHub, StaffLogin]) -> None:
    hub, _ = hub_with_data
    gateway_token = await hub.gateway("gw-2")
    for path in ("/api/v1/nodes/slope-07/latest", "/api/v1/nodes/slope-07/readings?channel=vwc"):
        assert (await hub.client.get(path)).status_code == 401
        assert (await hub.client.get(path, headers=auth(gateway_token))).status_code == 401
