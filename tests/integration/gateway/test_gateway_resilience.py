"""The gateway loses nothing across SIGKILLs and outages, and says what it drops when full.

Real parts throughout: two Mosquitto brokers (the gateway's device broker and the
hub's uplink broker), the real ``siaga-gateway run`` process (python -m siaga.gateway), and
``MqttAckResponder`` standing in for the hub's ingest (tests/integration/gateway/hub_stand_in.py)
until the hub's own tests exercise the same contract (docs/uplink.md).
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.heartbeat import HealthSnapshot, HeartbeatSettings
from siaga.gateway.uplink.mqtt_uplink import MqttUplink
from siaga.simulators.servers import Mosquitto
from tests.integration.gateway.gateway_process import (
    GatewayProcess,
    NodeFleet,
    gateway_config,
    process_gone,
)
from tests.integration.gateway.hub_stand_in import MqttAckResponder, wait_for
from tests.integration.uplink.test_uplink_mqtt import alert, reading, uplink_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def devices() -> Iterator[Mosquitto]:
    """The gateway's own broker, where nodes publish (a second broker of this test's own)."""
    broker = Mosquitto().start()
    yield broker
    broker.cleanup()


def test_sigkill_mid_stream_loses_nothing(
    devices: Mosquitto, fresh_mosquitto: Mosquitto, tmp_path: Path,
) -> None:
    """Three SIGKILLs of ``siaga-gateway run`` while nodes publish: every reading the
    nodes sent reaches the hub stand-in, and each identity is stored once. With the uplink's
    sender in a process of its own (``uplink.sender = "process"``) it ends with its gateway
    each time: no orphan keeps the uplink's broker session."""
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port).start()
    config = gateway_config(tmp_path / "state", "gw-kill", devices, fresh_mosquitto,
                            extra='sender = "process"\n')
    gw = GatewayProcess(config, tmp_path / "gateway.log").start()
    fleet = NodeFleet(devices, "gw-kill")
    rng = random.Random(7)
    try:
        fleet.wait_forwarded(hub)
        feeding = fleet.run(count=500, rate_hz=80)
        for i in range(3):
            time.sleep(rng.uniform(1.0, 1.6))
            assert gw.alive, gw.log_tail()
            # The first gateway has forwarded, so its sender runs; a restarted one may still
            # be importing (no sender yet).
            senders = gw.children()
            assert len(senders) == 1 or (i > 0 and not senders), (senders, gw.log_tail())
            gw.kill()
            assert wait_for(lambda s=senders: all(map(process_gone, s)), 10), "an orphan"
            time.sleep(0.3)
            gw.start()
        feeding.join()
        got_all = hub.wait_until(lambda: set(hub.reading_deliveries) >= fleet.sent, 90)
        assert got_all, (len(fleet.sent - set(hub.reading_deliveries)), gw.log_tail())
        senders = gw.children()
        assert gw.terminate() == 0, gw.log_tail()
        assert len(senders) == 1 and process_gone(senders[0])
    finally:
        if gw.alive:
            gw.kill()
        fleet.stop()
        hub.stop()
    stored = {k for k in hub.reading_deliveries if k[1] != "warm-up"}
    assert stored == fleet.sent and len(fleet.sent) == 1500
    # The broker published the last will at each kill: the hub saw the gateway go offline.
    assert any(s["state"] == "offline" for _, s in hub.statuses)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_the_process_group_stops_cleanly(
    devices: Mosquitto, fresh_mosquitto: Mosquitto, tmp_path: Path, signum: int,
) -> None:
    """Ctrl-C (SIGINT) and systemd's stop (SIGTERM to every process of the unit) reach the
    sender process too: it outlives the signal, so the gateway stops it cleanly: exit 0, no
    sender death logged or counted, none respawned, the retained status is the gateway's own
    offline (with ts; the last will has none), and no orphan."""
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port).start()
    state = tmp_path / "state"
    config = gateway_config(state, "gw-group", devices, fresh_mosquitto,
                            extra='sender = "process"\n')
    gw = GatewayProcess(config, tmp_path / "gateway.log").start()
    fleet = NodeFleet(devices, "gw-group")
    try:
        fleet.wait_forwarded(hub)
        senders = gw.children()
        assert len(senders) == 1, (senders, gw.log_tail())
        assert gw.signal_group(signum) == 0, gw.log_tail()
        assert wait_for(lambda: process_gone(senders[0]), 5), "an orphan"
        assert hub.wait_until(lambda: bool(hub.statuses)
                              and hub.statuses[-1][1]["state"] == "offline", 5), hub.statuses
    finally:
        if gw.alive:
            gw.kill()
        fleet.stop()
        hub.stop()
    assert "uplink sender process" not in gw.log_tail(), gw.log_tail()  # died / started
    assert "ts" in hub.statuses[-1][1], hub.statuses  # not the will
    status = json.loads((state / "status.json").read_text())
    assert status["uplink"]["sender_restarts"] == 0, status["uplink"]


def test_full_buffer_during_outage_drops_oldest_readings_and_reports_it(
    fresh_mosquitto: Mosquitto, tmp_path: Path,
) -> None:
    buffer = StoreAndForwardBuffer(
        BufferSettings(path=str(tmp_path / "buffer.sqlite3"), max_rows=300))
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port).start()
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-full"), buffer,
                    health=HealthSnapshot("gw-full", buffer),
                    heartbeat=HeartbeatSettings(interval_s=1.0))
    up.start()
    try:
        assert wait_for(lambda: up.connected, 10)
        fresh_mosquitto.stop()
        assert wait_for(lambda: not up.connected, 10)
        buffer.append([], [alert(1)])
        for i in range(0, 1000, 50):
            buffer.append([reading(s) for s in range(i, i + 50)], [])
        assert buffer.stats().dropped_readings == 701
        fresh_mosquitto.start()
        assert wait_for(lambda: buffer.stats().depth == 0, 30), buffer.stats()
        assert hub.wait_until(
            lambda: any(h["buffer"]["dropped_readings"] == 701 for h in hub.heartbeats), 10)
    finally:
        up.stop()
        hub.stop()
        buffer.close()
    assert len(hub.alert_deliveries) == 1, "the alert is kept"
    assert sorted(k[4] for k in hub.reading_deliveries) == list(range(701, 1000))
    assert all(b["loss"]["dropped_readings"] == 701 for b in hub.batches)
    assert all(b["loss"]["dropped_since"] is not None for b in hub.batches)
