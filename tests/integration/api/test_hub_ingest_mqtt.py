"""MQTT ingest through a real Mosquitto into a real influxd: acks, idempotency, rejections,
the persistent session, and a shared subscription splitting load between two hubs."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from siaga.api.ingest.mqtt_subscriber import MqttSubscriber
from siaga.api.settings import HubSettings
from siaga.simulators.servers import InfluxDB, Mosquitto
from tests.api_fixtures import AsgiHub, asgi_hub
from tests.integration.api.test_hub_ingest_http import T0, alert, make_batch

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

GW = "gw-bumiaji-01"


class GatewayClient:
    """A gateway's side of docs/uplink.md: publishes on .../data, hears .../ack."""

    def __init__(self, broker: Mosquitto, prefix: str, gateway: str = GW) -> None:
        self.prefix = prefix
        self.gateway = gateway
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"siaga-gw-{gateway}-{uuid.uuid4().hex[:6]}")
        self.client.on_message = lambda c, u, m: self.acks.put(json.loads(m.payload))
        self.client.connect(broker.host, broker.port)
        subscribed: queue.Queue[bool] = queue.Queue()
        self.client.on_subscribe = lambda *a: subscribed.put(True)
        self.client.loop_start()
        self.client.subscribe(f"{prefix}/{gateway}/ack", qos=1)
        subscribed.get(timeout=5)

    def publish(self, kind: str, payload: bytes | dict[str, Any], *, retain: bool = False,
                gateway: str | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.client.publish(f"{self.prefix}/{gateway or self.gateway}/{kind}", body,
                                   qos=1, retain=retain)
        info.wait_for_publish(5)

    async def ack(self, timeout: float = 15) -> dict[str, Any]:
        return await asyncio.to_thread(self.acks.get, True, timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}/gw"


@pytest.fixture
def gateway(mosquitto: Mosquitto, prefix: str) -> Iterator[GatewayClient]:
    gw = GatewayClient(mosquitto, prefix)
    yield gw
    gw.close()


@pytest.fixture
def settings_for(
    hub_settings_factory: Callable[..., HubSettings], influxdb: InfluxDB, mosquitto: Mosquitto,
    prefix: str,
) -> Callable[..., HubSettings]:
    database = f"mqtt_{uuid.uuid4().hex[:10]}"

    def make(**mqtt_extra: Any) -> HubSettings:
        return hub_settings_factory(
            telemetry={"kind": "influxdb", "url": influxdb.url, "database": database},
            mqtt={"enabled": True, "host": mosquitto.host, "port": mosquitto.port,
                  "client_id": f"hub-{uuid.uuid4().hex[:8]}", "topic_prefix": prefix,
                  **mqtt_extra})

    return make


@asynccontextmanager
async def mqtt_hub(settings: HubSettings) -> AsyncIterator[AsgiHub]:
    async with asgi_hub(settings) as hub:
        await subscriber(hub).wait_subscribed()
        yield hub


def subscriber(hub: AsgiHub) -> MqttSubscriber:
    sub = hub.services.ingest.subscriber
    assert isinstance(sub, MqttSubscriber)
    return sub


async def stored(hub: AsgiHub) -> list[Any]:
    return await hub.services.telemetry.readings("slope-07", "vwc", T0 - 1, T0 + 86_400_000)


async def test_a_batch_is_acked_after_it_is_stored_and_a_resend_changes_nothing(
    settings_for: Callable[..., HubSettings], gateway: GatewayClient,
) -> None:
    async with mqtt_hub(settings_for()) as hub:
        batch = make_batch(20)
        gateway.publish("data", batch)
        ack = await gateway.ack()
        assert (ack["batch"], ack["status"]) == (batch["batch"], "stored")
        first = await stored(hub)
        assert len(first) == 20 and {p.gateway for p in first} == {GW}
        gateway.publish("data", batch)
        ack = await gateway.ack()
        assert (ack["batch"], ack["status"]) == (batch["batch"], "stored")
        assert await stored(hub) == first


async def test_invalid_batches_are_rejected_with_a_reason_and_nothing_stored(
    settings_for: Callable[..., HubSettings], gateway: GatewayClient,
) -> None:
    async with mqtt_hub(settings_for()) as hub:
        bad = make_batch(3)
        bad["readings"][1]["value"] = "31.5"  # one bad item: refused alone, the rest stored
        gateway.publish("data", bad)
        ack = await gateway.ack()
        assert ack["batch"] == bad["batch"] and ack["status"] == "stored"
        assert ack["stored"] == 2
        assert [(i["index"], i["id"]) for i in ack["rejected_items"]] == [(1, 2)]
        assert ack["rejected_items"][0]["reason"].startswith("value:")

        bad = make_batch(3, first_id=50)
        bad["sent_at"] = "yesterday"  # a bad envelope refuses the whole batch
        gateway.publish("data", bad)
        ack = await gateway.ack()
        assert ack["batch"] == bad["batch"] and ack["status"] == "rejected"
        assert "sent_at" in ack["reason"]

        other = make_batch(3, gateway="gw-someone-else")
        gateway.publish("data", other)  # on GW's topic, naming another gateway
        ack = await gateway.ack()
        assert ack["status"] == "rejected" and "gw-someone-else" in ack["reason"]

        gateway.publish("data", b"\x00not json at all")  # no batch id to answer to
        good = make_batch(2, first_id=100)
        gateway.publish("data", good)
        ack = await gateway.ack()
        assert (ack["batch"], ack["status"]) == (good["batch"], "stored")
        assert sorted(p.seq for p in await stored(hub)) == [1, 3, 100, 101]
        metrics = (await hub.client.get("/metrics")).text
        assert 'siaga_ingest_batches_total{transport="mqtt",outcome="rejected"} 3' in metrics


async def test_heartbeat_and_retained_status_reach_the_pipeline(
    settings_for: Callable[..., HubSettings], gateway: GatewayClient,
) -> None:
    gateway.publish("status", {"state": "online", "ts": T0}, retain=True)
    async with mqtt_hub(settings_for()) as hub:
        gateway.publish("heartbeat", {
            "v": 1, "gateway": GW, "ts": T0, "uptime_s": 1.0,
            "buffer": {"depth": 0, "alerts": 0, "oldest_age_s": None, "dropped_readings": 4,
                       "bytes": 0}})
        for _ in range(100):
            metrics = (await hub.client.get("/metrics")).text
            if 'siaga_ingest_heartbeats_total{transport="mqtt"} 1' in metrics:
                break
            await asyncio.sleep(0.05)
        assert f'siaga_gateway_dropped_readings{{gateway="{GW}"}} 4' in metrics
        assert f'siaga_gateway_online{{gateway="{GW}"}} 1' in metrics
    gateway.publish("status", b"", retain=True)  # clear the retained message


async def test_a_malformed_heartbeat_and_status_are_logged_once_and_batches_go_on(
    settings_for: Callable[..., HubSettings], gateway: GatewayClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="siaga.api.ingest.mqtt_subscriber"):
        async with mqtt_hub(settings_for()) as hub:
            gateway.publish("status", b"{not json")
            gateway.publish("heartbeat", b"\x00")
            good = make_batch(2)
            gateway.publish("data", good)
            ack = await gateway.ack()
            assert (ack["batch"], ack["status"]) == (good["batch"], "stored")
            for _ in range(100):  # the heartbeat is parsed in the database lane
                if any("heartbeat" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.05)
            sub = subscriber(hub)
            await asyncio.wait_for(sub._queue.join(), 1)  # every message handled
            assert sub._slots._value == sub.settings.queue_size  # every slot free again
    lines = [r for r in caplog.records if r.name == "siaga.api.ingest.mqtt_subscriber"]
    for kind in ("status", "heartbeat"):
        said = [r for r in lines if r.getMessage().startswith(f"MQTT {kind} message from {GW}"
                                                              " not handled: ")]
        assert len(said) == 1 and said[0].exc_info is None  # a reason, no traceback


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_batches_sent_while_the_hub_is_down_arrive_through_its_persistent_session(
    settings_for: Callable[..., HubSettings], gateway: GatewayClient, protocol: str,
) -> None:
    settings = settings_for(protocol=protocol)
    async with mqtt_hub(settings):
        pass  # the broker now holds a persistent session with our subscriptions
    batch = make_batch(7, first_id=500)
    gateway.publish("data", batch)
    async with mqtt_hub(settings) as hub:
        ack = await gateway.ack()
        assert (ack["batch"], ack["status"]) == (batch["batch"], "stored")
        assert len(await stored(hub)) == 7


async def test_a_shared_subscription_splits_batches_between_two_hubs(
    settings_for: Callable[..., HubSettings], gateway: GatewayClient,
) -> None:
    group = f"hubs{uuid.uuid4().hex[:6]}"
    async with mqtt_hub(settings_for(shared_group=group)) as hub_a, \
            mqtt_hub(settings_for(shared_group=group)) as hub_b:
        batches = [make_batch(10, first_id=1 + 10 * i) for i in range(40)]
        for b in batches:
            gateway.publish("data", b)
        acks = [await gateway.ack() for _ in batches]
        assert sorted(a["batch"] for a in acks) == sorted(b["batch"] for b in batches)
        assert {a["status"] for a in acks} == {"stored"}
        # One InfluxDB database behind both hubs (the SQLite file they share holds incidents,
        # not telemetry). An ack goes out only after influxd answered 204 for its points, yet
        # one full-suite run (2026-12-07) saw 360 of 400 here. Not reproduced since: 20 runs
        # of this test alone or in its modules, and 150 rounds of two concurrent writers with
        # an immediate count against influxd 1.6, under load 12, always read 400. Until it is
        # explained, the count must reach 400 promptly.
        deadline = time.monotonic() + 5
        while len(await stored(hub_a)) != 400 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(await stored(hub_a)) == 400

        def handled(hub: AsgiHub) -> float:
            counter = hub.services.metrics.counter(
                "siaga_ingest_batches_total", "Uplink batches by transport and outcome",
                ("transport", "outcome"))
            return counter.value(transport="mqtt", outcome="stored")

        by_a, by_b = handled(hub_a), handled(hub_b)
        assert by_a + by_b == 40
        assert by_a > 0 and by_b > 0, (by_a, by_b)
        with pytest.raises(queue.Empty):
            gateway.acks.get(timeout=0.5)  # each batch was handled once, not by both


async def test_readings_are_stored_while_an_alert_batch_waits_for_the_database_lock(
    settings_for: Callable[..., HubSettings], gateway: GatewayClient,
) -> None:
    """One worker and a one-slot queue: before alerts had a lane of their own, this readings
    batch waited behind the alert batch until the lock was free (a storm on several hub
    processes: seconds)."""
    settings = settings_for(workers=1, queue_size=1)
    async with mqtt_hub(settings) as hub:
        holder = sqlite3.connect(settings.database.path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another hub process holding the write lock
            alerts = make_batch(1, first_id=900, readings=[], alerts=[alert()])
            gateway.publish("data", alerts)
            readings = make_batch(5)
            gateway.publish("data", readings)
            first = await gateway.ack(timeout=10)
            assert (first["batch"], first["status"]) == (readings["batch"], "stored")
            assert len(await stored(hub)) == 5
            holder.execute("ROLLBACK")
            second = await gateway.ack(timeout=30)
            assert (second["batch"], second["status"]) == (alerts["batch"], "stored")
        finally:
            holder.close()


async def test_heartbeats_waiting_for_the_database_hold_no_queue_slot(
    settings_for: Callable[..., HubSettings], gateway: GatewayClient,
) -> None:
    """A one-slot queue: before, the waiting heartbeat kept the slot and the readings batch
    behind it was not even taken from the broker until the database was free."""
    settings = settings_for(workers=1, queue_size=1)
    heartbeat = {"v": 1, "gateway": GW, "ts": T0, "uptime_s": 1.0,
                 "buffer": {"depth": 0, "alerts": 0}}
    async with mqtt_hub(settings) as hub:
        holder = sqlite3.connect(settings.database.path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            gateway.publish("heartbeat", heartbeat)
            gateway.publish("heartbeat", {**heartbeat, "ts": T0 + 30_000})
            readings = make_batch(5)
            gateway.publish("data", readings)
            first = await gateway.ack(timeout=10)
            assert (first["batch"], first["status"]) == (readings["batch"], "stored")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        metrics = (await hub.client.get("/metrics")).text
        # the second arrived while the first was still waiting: dropped, and counted
        assert "siaga_mqtt_heartbeats_dropped_total 1" in metrics
        assert 'siaga_ingest_heartbeats_total{transport="mqtt"} 1' in metrics
