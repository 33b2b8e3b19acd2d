"""The gateway's uplinks against the hub's real ingest (api/ingest): MQTT through a real
Mosquitto, HTTP against the hub served by uvicorn. The two implementations of
docs/uplink.md checked against each other, with no stand-in on either side."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from siaga.api.ingest.mqtt_subscriber import MqttSubscriber
from siaga.api.settings import HubSettings
from siaga.firmware_bridge.uplink import ms
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.heartbeat import HealthSnapshot, HeartbeatSettings, NodeSeen
from siaga.gateway.uplink.http_uplink import HttpUplink
from siaga.gateway.uplink.mqtt_uplink import MqttUplink
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.servers import Mosquitto
from tests.api_fixtures import LiveHub, asgi_hub
from tests.integration.gateway.hub_stand_in import wait_for
from tests.integration.uplink.running import running
from tests.integration.uplink.test_uplink_mqtt import alert, reading, uplink_settings

pytestmark = pytest.mark.integration


@pytest.mark.anyio
async def test_hub_stores_and_acks_what_the_gateway_sends(
    hub_settings_factory: Callable[..., HubSettings], fresh_mosquitto: Mosquitto,
    tmp_path: Path, buffer: StoreAndForwardBuffer,
) -> None:
    settings = hub_settings_factory(mqtt={
        "enabled": True, "host": fresh_mosquitto.host, "port": fresh_mosquitto.port,
        "client_id": "hub-contract", "topic_prefix": "siaga/gw"})
    buffer.append([reading(i) for i in range(300)], [alert(1)])
    buffer.append([reading(5, node="n" * 129)], [])  # refused by the hub alone (id too long)
    async with asgi_hub(settings) as hub:
        subscriber = hub.services.ingest.subscriber
        assert isinstance(subscriber, MqttSubscriber)
        await subscriber.wait_subscribed()
        health = HealthSnapshot("gw-contract", buffer,
                                lambda: {"slope-07": NodeSeen(ms(reading(299).ts), 300)})
        up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-contract", batch_max_count=100),
                        buffer, health=health, heartbeat=HeartbeatSettings(interval_s=1.0))
        up.start()
        try:
            drained = await asyncio.to_thread(
                wait_for, lambda: buffer.stats().depth == 0, 30)
            assert drained, (buffer.stats(), up.counters())
            buffer_rejected = rejected_rows(buffer)
            metrics = ""
            for _ in range(100):  # heartbeats every second; the retained status at connect
                metrics = (await hub.client.get("/metrics")).text
                if 'siaga_ingest_heartbeats_total{transport="mqtt"}' in metrics:
                    break
                await asyncio.sleep(0.05)
            assert 'siaga_gateway_online{gateway="gw-contract"} 1' in metrics
            assert 'siaga_ingest_heartbeats_total{transport="mqtt"}' in metrics
            # A second process of the same gateway resending everything changes nothing.
            again = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "again.sqlite3")))
            again.append([reading(i) for i in range(300)], [])
            await asyncio.to_thread(up.stop)
            up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-contract"), again)
            up.start()
            assert await asyncio.to_thread(wait_for, lambda: again.stats().depth == 0, 30)
            again.close()
            points = await hub.services.telemetry.readings(
                "slope-07", "vwc", ms(reading(0).ts), ms(reading(299).ts) + 1)
        finally:
            await asyncio.to_thread(up.stop)
    counters = up.counters()
    assert counters.batches_rejected == 0 and counters.bad_acks == 0
    (node, reason), = buffer_rejected
    assert node == "n" * 129 and "node: String should have at most 128 characters" in reason
    assert len(points) == 300
    assert sorted(p.seq for p in points) == list(range(300))
    assert {p.gateway for p in points} == {"gw-contract"}


def rejected_rows(buffer: StoreAndForwardBuffer) -> list[tuple[str, str]]:
    """(node, reason) of the buffer's rejected table."""
    rows = buffer._db().execute("SELECT payload, reason FROM rejected ORDER BY id").fetchall()
    return [(json.loads(p)["node"], r) for p, r in rows]


def test_http_uplink_into_the_live_hub(live_hub: LiveHub,
                                       buffer: StoreAndForwardBuffer) -> None:
    token = live_hub.gateway("gw-http-contract")
    buffer.append([reading(i) for i in range(250)], [alert(2)])
    buffer.append([reading(7, node="bad\\node")], [])  # refused alone (a backslash)
    settings = UplinkSettings(kind="http", gateway_id="gw-http-contract", url=live_hub.url,
                              token=token, batch_max_count=100, batch_max_age_s=0.1,
                              backoff_min_s=0.1, backoff_max_s=0.5)
    up = HttpUplink(settings, buffer, health=HealthSnapshot("gw-http-contract", buffer),
                    heartbeat=HeartbeatSettings(interval_s=1.0))
    with running(up):
        assert wait_for(lambda: buffer.stats().depth == 0, 30), (buffer.stats(), up.counters())
        assert wait_for(lambda: up.counters().heartbeats_sent >= 1, 10)
    counters = up.counters()
    assert counters.batches_rejected == 0 and counters.entries_acked == 251
    assert counters.items_rejected == 1
    (node, reason), = rejected_rows(buffer)
    assert node == "bad\\node" and "node: String should match" in reason
    points = live_hub.run(lambda: live_hub.services.telemetry.readings(
        "slope-07", "vwc", ms(reading(0).ts), ms(reading(249).ts) + 1))
    assert sorted(p.seq for p in points if p.gateway == "gw-http-contract") == list(range(250))


def test_http_uplink_with_a_wrong_token_keeps_its_rows(live_hub: LiveHub,
                                                        buffer: StoreAndForwardBuffer) -> None:
    live_hub.gateway("gw-http-wrong")
    buffer.append([reading(1)], [])
    up = HttpUplink(UplinkSettings(kind="http", gateway_id="gw-http-wrong", url=live_hub.url,
                                   token="not-the-token", batch_max_age_s=0.1,
                                   backoff_min_s=0.1, backoff_max_s=0.2), buffer)
    with running(up):
        assert wait_for(lambda: up.counters().send_errors >= 2, 10)
    assert buffer.stats().depth == 1 and buffer.stats().rejected == 0
