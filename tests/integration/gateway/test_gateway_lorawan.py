"""LoRaWAN network-server integrations through a real Mosquitto.

The uplinks are the documented JSON shapes of ChirpStack v4 and The Things Stack v3
(``tests/unit/firmware_bridge/test_lorawan.py`` says where they come from), published
by ``siaga.simulators.lorawan_nodes`` as the network server would; the same module
answers confirmed downlinks with the network server's ack event.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from siaga.firmware_bridge.lorawan import Flavour
from siaga.gateway.config import settings_from_table
from siaga.gateway.runtime import GatewayRuntime
from siaga.simulators.lorawan_nodes import LorawanNodeSet, ack_event, uplink_json
from siaga.simulators.scenario_catalog import build
from siaga.simulators.servers import Mosquitto
from tests.integration.gateway.gateway_harness import CapturedStdout

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
LPP = {"1": "rain", "2": "vwc", "3": "temp", "4": "hum", "5": "batt", "6": "tilt"}


def lorawan_table(broker: Mosquitto, flavour: str) -> dict[str, Any]:
    return {"flavour": flavour, "host": broker.host, "port": broker.port,
            "client_id": f"gw-lw-{uuid.uuid4().hex[:8]}", "default_profile": "lpp",
            "profiles": {"lpp": {"codec": "cayenne_lpp", "lpp_channels": LPP}}}


def start(tmp_path: Path, broker: Mosquitto, flavour: str,
          **extra: Any) -> tuple[GatewayRuntime, CapturedStdout]:
    settings = settings_from_table({
        "gateway": {"id": "gw-lw", "state_dir": str(tmp_path), "status_write_s": 0.2},
        "output": {"stdout": True},
        "nodes": {"rain-1": {"mm_per_tip": 0.5}},
        "downlink": {"ack_timeout_s": 5.0, "retries": 1},
        "lorawan": {**lorawan_table(broker, flavour), **extra},
    })
    out = CapturedStdout()
    runtime = GatewayRuntime(settings, out)  # type: ignore[arg-type]
    runtime.start()
    assert runtime.lorawan is not None
    deadline = time.monotonic() + 10
    while not runtime.lorawan.client.is_connected():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)  # the SUBACK
    return runtime, out


class NetworkServer:
    """Publishes uplinks as the network server does and acks confirmed downlinks."""

    def __init__(self, broker: Mosquitto, flavour: Flavour) -> None:
        self.flavour = flavour
        self.rng = random.Random(1)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"ns-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe("application/+/device/+/command/down" if flavour == "chirpstack"
                              else "v3/+/devices/+/down/push", 1)
        self.client.loop_start()
        self.downlinks: list[tuple[str, dict[str, Any]]] = []

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.downlinks.append((msg.topic, json.loads(msg.payload)))
        event = ack_event(self.flavour, msg.topic, bytes(msg.payload))
        assert event is not None
        client.publish(*event, qos=1)

    def up(self, node: str, f_cnt: int, values: dict[str, float], *,
           decoded: bool = False) -> None:
        topic, body = uplink_json(self.flavour, node, f_cnt, values, self.rng,
                                  decoded=decoded, now=time.time())
        self.client.publish(topic, body, qos=1).wait_for_publish(5)

    def raw(self, topic: str, body: bytes) -> None:
        self.client.publish(topic, body, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("flavour", ["chirpstack", "tts"])
def test_uplinks_become_readings_with_gaps_radio_health_and_acked_siren(
    tmp_path: Path, mosquitto: Mosquitto, flavour: Flavour
) -> None:
    runtime, out = start(tmp_path, mosquitto, flavour)
    ns = NetworkServer(mosquitto, flavour)
    try:
        ns.up("rain-1", 10, {"rain": 1000, "batt": 3.9})
        ns.up("rain-1", 11, {"rain": 1004, "batt": 3.9})
        ns.up("rain-1", 14, {"rain": 1010, "batt": 3.88})  # frames 12 and 13 lost
        ns.up("slope-1", 0, {"vwc": 41.5, "tilt": 0.25}, decoded=True)
        ns.raw("application/x/device/y/event/up" if flavour == "chirpstack"
               else "v3/x/devices/y/up", b"{broken")
        rain = [r for r in out.wait_for("reading", 9) if r["channel"] == "rain"]
        result = runtime.command("rain-1", "siren", 120).result(timeout=15)
        time.sleep(0.5)
    finally:
        ns.close()
        runtime.stop()
    assert [(r["value"], r["raw"], r["seq"]) for r in rain] == [
        (0.0, 1000, 10), (2.0, 1004, 11), (3.0, 1010, 14)]
    assert all(r["source"] == f"lorawan:{flavour}" for r in rain)
    readings = out.of_kind("reading")
    slope = {r["channel"]: r["value"] for r in readings if r["node"] == "slope-1"}
    assert slope["vwc"] == 41.5 and slope["tilt"] == 0.25 and -120 <= slope["rssi"] <= -90
    errors = out.of_kind("error")
    assert [e["reason"] for e in errors] == ["not_json"]
    assert result.status == "acked" and result.attempts == 1
    topic, body = ns.downlinks[0]
    if flavour == "chirpstack":
        assert topic.endswith("/command/down") and body["confirmed"] is True
    else:
        assert body["downlinks"][0]["correlation_ids"] == [f"siaga:cseq:{result.cseq}"]
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["nodes"]["rain-1"]["gaps"] == 2
    radio = status["lorawan"]["rain-1"]
    assert radio["f_cnt"] == 14 and radio["gateway"] and radio["snr"] is not None


def test_a_device_without_codec_or_valid_name_is_an_error_not_a_crash(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    runtime, out = start(tmp_path, mosquitto, "chirpstack", default_profile=None)
    ns = NetworkServer(mosquitto, "chirpstack")
    try:
        ns.up("rain-1", 1, {"rain": 5})
        ns.up("a-name-far-too-long-for-siaga", 1, {"rain": 5}, decoded=True)
        ns.up("slope-1", 1, {"vwc": 30.0}, decoded=True)
        out.wait_for("reading", 1)
        errors = out.wait_for("error", 2)
    finally:
        ns.close()
        runtime.stop()
    assert sorted(e["reason"] for e in errors) == ["bad_node_id", "no_codec"]


@pytest.mark.parametrize("flavour", ["chirpstack", "tts"])
def test_sim_lorawan_cli_feeds_a_gateway(tmp_path: Path, mosquitto: Mosquitto,
                                         flavour: str) -> None:
    runtime, out = start(tmp_path, mosquitto, flavour)
    try:
        sim = subprocess.run(
            [str(BIN / "siaga-sim"), "lorawan", "--broker", mosquitto.address, "--flavour",
             flavour, "--scenario", "storm", "--speed", "600", "--only", "rain-bumiaji-01",
             "--duration", "3"],
            capture_output=True, timeout=60, check=False)
        assert sim.returncode == 0, sim.stderr[-500:]
        counts = json.loads(sim.stdout)
        assert counts["published"] >= 3
        rain = [r for r in out.wait_for("reading", counts["published"])
                if r["channel"] == "rain"]
    finally:
        runtime.stop()
    assert len(rain) >= 3 and all(r["node"] == "rain-bumiaji-01" for r in rain)


def test_node_set_plays_a_scenario(mosquitto: Mosquitto) -> None:
    scenario = build("storm", 1, start_ts=time.time(), only=("rain-bumiaji-01",))
    nodes = LorawanNodeSet(scenario, mosquitto.host, mosquitto.port, "tts", speed=1200,
                           only=("rain-bumiaji-01",))
    nodes.start()
    deadline = time.monotonic() + 10
    while nodes.published < 5:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    nodes.close()
    assert nodes.published >= 5
