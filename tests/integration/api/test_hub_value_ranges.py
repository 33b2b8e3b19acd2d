"""Issue 12 cases 8 and 10: values beyond a channel's accepted range and node ids with ``/``
are refused item by item at ingest; aggregates over values already stored before the bound
existed (1e308) answer, on SQLite and on a real influxd."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from siaga.api.settings import HubSettings
from siaga.firmware_bridge.uplink import UplinkReading
from siaga.simulators.servers import InfluxDB
from tests.api_fixtures import AsgiHub, asgi_hub
from tests.integration.api.test_hub_ingest_http import GW, T0, auth, make_batch

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(params=["sqlite", "influxdb"])
async def any_hub(request: pytest.FixtureRequest,
                  hub_settings_factory: Callable[..., HubSettings],
                  influxdb: InfluxDB) -> AsyncIterator[AsgiHub]:
    telemetry: dict[str, Any] = {}
    if request.param == "influxdb":
        telemetry = {"kind": "influxdb", "url": influxdb.url,
                     "database": f"range_{uuid.uuid4().hex[:10]}"}
    async with asgi_hub(hub_settings_factory(telemetry=telemetry)) as hub:
        yield hub


async def test_out_of_range_values_and_slashed_node_ids_are_refused_alone(
        any_hub: AsgiHub) -> None:
    hub = any_hub
    token = await hub.gateway(GW)
    batch = make_batch(6)
    readings = batch["readings"]
    readings[1]["value"] = 1e308
    readings[2]["value"] = -1e308
    readings[3] = {**readings[3], "channel": "tilt", "unit": "deg", "value": 1e5}
    readings[4]["node"] = "slope/07"
    readings.append({**readings[0], "id": 50, "seq": 50, "channel": "rain", "unit": "mm",
                     "value": 0.2, "raw": 1e300})
    batch["alerts"] = [{"id": 90, "node": "slope/07", "hazard": "landslide", "level": 3,
                        "previous_level": 1, "detector": "landslide", "ts": T0,
                        "explanation": "x", "explanation_en": "x"}]
    r = await hub.client.post("/api/v1/ingest", json=batch, headers=auth(token))
    assert r.status_code == 200, r.text
    ack = r.json()
    reasons = {(i["kind"], i["index"]): i["reason"] for i in ack["rejected_items"]}
    assert sorted(reasons) == [("alert", 0), ("reading", 1), ("reading", 2), ("reading", 3),
                               ("reading", 4), ("reading", 6)]
    for key in [("reading", 1), ("reading", 2), ("reading", 3), ("reading", 6)]:
        assert reasons[key].startswith("out_of_range: "), reasons[key]
    assert "[-65535, 65535]" in reasons[("reading", 3)]
    assert reasons[("reading", 4)].startswith("bad_node_id: ")
    assert reasons[("alert", 0)].startswith("bad_node_id: ")
    assert ack["stored"] == 2
    got = await hub.services.telemetry.readings("slope-07", "vwc", T0, T0 + 86_400_000)
    assert [p.value for p in got] == [30.0, 35.0]


async def test_aggregates_over_huge_values_already_stored_answer(any_hub: AsgiHub) -> None:
    """Stored before ingest refused them: the sum of two 1e308 was infinity, and the answer
    a 500 ("Out of range float values are not JSON compliant")."""
    hub = any_hub
    data = [UplinkReading(id=i, node="slope-07", channel="vwc", value=v, unit="%",
                          ts=T0 + i * 60_000, rx=T0 + i * 60_000, seq=i, src="serial")
            for i, v in enumerate([1e308, 1e308, 30.0, 40.0, -1e308])]
    await hub.services.telemetry.write_readings(GW, data)  # beneath ingest's checks
    staff = await hub.staff(role="viewer")
    for agg in ("mean,min,max,sum", "sum", "mean"):
        r = await hub.client.get("/api/v1/nodes/slope-07/readings", headers=staff.headers,
                                 params={"channel": "vwc", "from": T0, "to": T0 + 3_600_000,
                                         "every": "1h", "agg": agg})
        assert r.status_code == 200, r.text
    (interval,) = r.json()["intervals"]
    assert interval["mean"] == 35.0
    r = await hub.client.get("/api/v1/nodes/slope-07/readings", headers=staff.headers,
                             params={"channel": "vwc", "from": T0, "to": T0 + 3_600_000,
                                     "every": "1h"})
    (interval,) = r.json()["intervals"]
    assert interval["sum"] == 70.0 and interval["count"] == 2
    assert all(math.isfinite(v) for v in interval.values() if isinstance(v, float))
    # the raw values are still there to see (finite, JSON can carry them)
    r = await hub.client.get("/api/v1/nodes/slope-07/readings", headers=staff.headers,
                             params={"channel": "vwc", "from": T0, "to": T0 + 3_600_000})
    assert r.status_code == 200 and len(r.json()["readings"]) == 5
