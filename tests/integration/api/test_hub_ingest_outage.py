"""InfluxDB outages: nothing is acknowledged while influxd is down, and retries carry a write
across a restart of a real influxd."""

from __future__ import annotations

import asyncio
import queue
import uuid
from collections.abc import Callable, Iterator

import pytest

from siaga.api.settings import HubSettings
from siaga.api.telemetry.errors import StoreUnavailable
from siaga.api.telemetry.influx import InfluxStore
from siaga.api.telemetry.settings import TelemetrySettings
from siaga.firmware_bridge.uplink import UplinkReading
from siaga.simulators.servers import InfluxDB, Mosquitto
from tests.api_fixtures import asgi_hub
from tests.integration.api.test_hub_ingest_http import GW, T0, auth, make_batch
from tests.integration.api.test_hub_ingest_mqtt import GatewayClient

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def own_influxdb() -> Iterator[InfluxDB]:
    server = InfluxDB().start()
    yield server
    server.cleanup()


def reading(seq: int) -> UplinkReading:
    return UplinkReading(id=seq, node="n1", channel="vwc", value=float(seq), unit="%",
                     ts=T0 + seq, rx=T0 + seq, seq=seq, src="serial")


async def test_http_ingest_answers_503_while_influxd_is_down_and_200_after(
    hub_settings_factory: Callable[..., HubSettings], own_influxdb: InfluxDB,
) -> None:
    settings = hub_settings_factory(telemetry={
        "kind": "influxdb", "url": own_influxdb.url, "database": "outage",
        "max_retries": 1, "retry_backoff_s": 0.05, "timeout_s": 2})
    async with asgi_hub(settings) as hub:
        token = await hub.gateway(GW)
        batch = make_batch(10)
        own_influxdb.stop()
        r = await hub.client.post("/api/v1/ingest", json=batch, headers=auth(token))
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["batch"] == batch["batch"]
        own_influxdb.start()
        r = await hub.client.post("/api/v1/ingest", json=batch, headers=auth(token))
        assert r.status_code == 200, r.text
        got = await hub.services.telemetry.readings("slope-07", "vwc", T0, T0 + 86_400_000)
        assert len(got) == 10
        metrics = (await hub.client.get("/metrics")).text
        assert 'siaga_ingest_batches_total{transport="http",outcome="failed"} 1' in metrics


async def test_a_write_survives_an_influxd_restart_through_retries(
    own_influxdb: InfluxDB,
) -> None:
    store = InfluxStore(TelemetrySettings(
        kind="influxdb", url=own_influxdb.url, database=f"r_{uuid.uuid4().hex[:8]}",
        max_retries=40, retry_backoff_s=0.05, retry_backoff_max_s=0.2, timeout_s=2))
    await store.start()
    try:
        own_influxdb.stop()
        write = asyncio.create_task(store.write_readings("gw", [reading(i) for i in range(5)]))
        await asyncio.sleep(0.5)
        assert not write.done()  # still retrying, not acknowledged
        await asyncio.to_thread(own_influxdb.start)
        assert await asyncio.wait_for(write, 30) == 5
        assert [p.seq for p in await store.readings("n1", "vwc", T0, T0 + 10)] == [0, 1, 2, 3, 4]
    finally:
        await store.close()


async def test_a_write_gives_up_when_influxd_stays_down(own_influxdb: InfluxDB) -> None:
    store = InfluxStore(TelemetrySettings(
        kind="influxdb", url=own_influxdb.url, database="gone", max_retries=2,
        retry_backoff_s=0.01, timeout_s=1))
    await store.start()
    own_influxdb.stop()
    try:
        with pytest.raises(StoreUnavailable, match="after 3 attempts"):
            await store.write_readings("gw", [reading(1)])
    finally:
        await store.close()


async def test_healthz_reports_influxd_down(
    hub_settings_factory: Callable[..., HubSettings], own_influxdb: InfluxDB,
) -> None:
    settings = hub_settings_factory(telemetry={
        "kind": "influxdb", "url": own_influxdb.url, "database": "health", "timeout_s": 1})
    async with asgi_hub(settings) as hub:
        r = await hub.client.get("/healthz")
        assert r.json()["checks"]["telemetry"] == "ok"
        own_influxdb.stop()
        r = await hub.client.get("/healthz")
        assert r.status_code == 503
        assert "unreachable" in r.json()["checks"]["telemetry"]


async def test_mqtt_sends_no_ack_while_influxd_is_down(
    hub_settings_factory: Callable[..., HubSettings], own_influxdb: InfluxDB,
    mosquitto: Mosquitto,
) -> None:
    prefix = f"o{uuid.uuid4().hex[:8]}/gw"
    settings = hub_settings_factory(
        telemetry={"kind": "influxdb", "url": own_influxdb.url, "database": "mqtt_outage",
                   "max_retries": 1, "retry_backoff_s": 0.05, "timeout_s": 1},
        mqtt={"enabled": True, "host": mosquitto.host, "port": mosquitto.port,
              "client_id": f"hub-{uuid.uuid4().hex[:8]}", "topic_prefix": prefix})
    gateway = GatewayClient(mosquitto, prefix)
    try:
        async with asgi_hub(settings) as hub:
            await hub.services.ingest.subscriber.wait_subscribed()
            batch = make_batch(6)
            own_influxdb.stop()
            gateway.publish("data", batch)
            with pytest.raises(queue.Empty):
                await asyncio.to_thread(gateway.acks.get, True, 2.0)
            await asyncio.to_thread(own_influxdb.start)
            gateway.publish("data", batch)  # the gateway's resend after its ack timeout
            ack = await gateway.ack()
            assert (ack["batch"], ack["status"]) == (batch["batch"], "stored")
            got = await hub.services.telemetry.readings("slope-07", "vwc", T0, T0 + 86_400_000)
            assert len(got) == 6
    finally:
        gateway.close()
