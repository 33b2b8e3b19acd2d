"""Virtual MQTT nodes against a real Mosquitto started by the test fixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from siaga.firmware_bridge.device_message import DeviceMessage, decode_device_message
from siaga.firmware_bridge.errors import DeviceMessageError
from siaga.simulators.errors import TransportError
from siaga.simulators.mqtt_nodes import MqttNodeSet, flood
from siaga.simulators.scenario_catalog import build
from siaga.simulators.servers import Mosquitto, free_port
from siaga.simulators.transport_faults import FaultSettings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


class Collector:
    """A subscriber on ``siaga/node/<prefix>.../#``, decoding every message it gets."""

    def __init__(self) -> None:
        self.messages: list[DeviceMessage] = []
        self.errors: list[DeviceMessageError] = []
        self.lock = threading.Lock()
        self.target = 0
        self.reached = threading.Event()

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            try:
                self.messages.append(decode_device_message(msg.topic, msg.payload))
            except DeviceMessageError as e:
                self.errors.append(e)
            if self.target and len(self.messages) + len(self.errors) >= self.target:
                self.reached.set()

    def wait_for(self, n: int, timeout: float = 30) -> bool:
        with self.lock:
            self.target = n
            if len(self.messages) + len(self.errors) >= n:
                return True
            self.reached.clear()
        return self.reached.wait(timeout)


@contextmanager
def subscribed(broker: Mosquitto, name: str) -> Iterator[Collector]:
    collector = Collector()
    subscribed_ev = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{name}")
    client.on_message = collector.on_message
    client.on_subscribe = lambda *a: subscribed_ev.set()
    client.on_connect = lambda c, *a: c.subscribe("siaga/node/#", qos=1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert subscribed_ev.wait(10)
        yield collector
    finally:
        client.disconnect()
        client.loop_stop()


def test_node_set_publishes_valid_device_messages_at_qos_1(mosquitto: Mosquitto) -> None:
    scenario = build("fire", seed=1, nodes=3)
    with subscribed(mosquitto, "nodeset") as got:
        with MqttNodeSet(scenario, mosquitto.host, mosquitto.port, rate=500, count=200,
                         client_id="sim-nodeset") as nodes:
            assert nodes.finished.wait(20)
        assert got.wait_for(200)
    assert nodes.stats.published == nodes.stats.acked == 200
    assert got.errors == []
    assert len(got.messages) == 200
    assert {m.node for m in got.messages} == set(scenario.nodes)
    for node in scenario.nodes:
        mine = [m for m in got.messages if m.node == node]
        assert (mine[0].kind, mine[0].seq) == ("hello", 0)
        assert [m.seq for m in mine] == list(range(len(mine)))
    ups = [m for m in got.messages if m.kind == "up"]
    assert ups and all(m.ts_ms is None for m in ups)
    assert {"smoke", "temp", "batt"} <= set(ups[-1].values)


def test_node_clock_and_garbage_faults(mosquitto: Mosquitto) -> None:
    scenario = build("quiet", seed=2, nodes=2)
    faults = FaultSettings(garbage=0.2, seed=1)
    with subscribed(mosquitto, "garbage") as got:
        with MqttNodeSet(scenario, mosquitto.host, mosquitto.port, rate=1000, count=100,
                         faults=faults, node_clock=True, client_id="sim-garbage") as nodes:
            assert nodes.finished.wait(20)
        garbage = [lb for lb in nodes.injector.injected if lb.cause == "garbage"]
        assert got.wait_for(100 + len(garbage))
    assert garbage
    assert len(got.errors) == len(garbage)
    assert {e.reason for e in got.errors} == {"not_json"}
    ups = [m for m in got.messages if m.kind == "up"]
    assert all(m.ts_ms is not None and abs(m.ts_ms / 1000 - scenario.start_ts) < 86400
               for m in ups)


def test_flood_waits_for_every_puback(mosquitto: Mosquitto) -> None:
    result = flood(build("quiet", seed=3, nodes=10), mosquitto.host, mosquitto.port, 3000)
    assert result.sent == result.acked == 3000
    assert result.rate > 0


def test_unreachable_broker_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="cannot reach"):
        MqttNodeSet(build("quiet", nodes=1), "127.0.0.1", free_port()).start()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siaga.simulators.cli", *args], cwd=REPO, capture_output=True,
        text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_cli_mqtt_count_and_flood(mosquitto: Mosquitto) -> None:
    r = _cli("mqtt", "--broker", mosquitto.address, "--nodes", "4", "--rate", "400",
             "--count", "120")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"published": 120, "acked": 120}
    r = _cli("mqtt", "--broker", mosquitto.address, "--nodes", "4", "--flood", "--count", "2000")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["sent"] == out["acked"] == 2000


def test_cli_mqtt_exit_codes_for_bad_broker_settings() -> None:
    r = _cli("mqtt", "--broker", "nohost", "--count", "1")
    assert r.returncode == 78 and "--broker" in r.stderr
    r = _cli("mqtt", "--broker", f"127.0.0.1:{free_port()}", "--count", "1")
    assert r.returncode == 69 and "cannot reach" in r.stderr


def test_mqtt_nodes_acknowledge_commands_and_obey_them(mosquitto: Mosquitto) -> None:
    scenario = build("fire", seed=4, nodes=1)
    node = next(iter(scenario.nodes))
    with subscribed(mosquitto, "commands") as got:
        with MqttNodeSet(scenario, mosquitto.host, mosquitto.port, speed=100,
                         client_id="sim-commands") as nodes:
            assert got.wait_for(3)  # booted: hello and data
            sender = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-cmd-sender")
            sender.connect(mosquitto.host, mosquitto.port)
            sender.loop_start()
            try:
                for seq, body in ((40, {"cmd": "interval", "v": 20}), (41, {"cmd": "reboot"}),
                                  (42, {"cmd": "melt"})):
                    sender.publish(f"siaga/node/{node}/cmd", json.dumps({"seq": seq, **body}),
                                   qos=1).wait_for_publish(5)
                sender.publish(f"siaga/node/{node}/cmd", b"{not json", qos=1).wait_for_publish(5)
                assert got.wait_for(len(got.messages) + 12)
            finally:
                sender.disconnect()
                sender.loop_stop()
        stats = nodes.stats
    acks = [m for m in got.messages if m.kind == "ack"]
    assert [(a.cseq, a.ok) for a in acks] == [(40, True), (41, True), (42, False)]
    assert stats.commands == 3 and stats.bad_commands >= 1
    after = got.messages[got.messages.index(acks[-1]):]
    assert any(m.kind == "hello" and m.seq == 0 for m in after)
    assert scenario.nodes[node].interval_s == 20.0
