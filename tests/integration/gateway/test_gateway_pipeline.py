"""The whole gateway wired by ``GatewayRuntime``: pty and MQTT nodes -> core -> detection ->
SQLite buffer -> MQTT uplink -> a hub stand-in on a real Mosquitto that acks batches, and
a local action (the siren command) run on the fire alert."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from siaga.gateway.config import load_settings
from siaga.gateway.runtime import GatewayRuntime
from siaga.simulators.servers import Mosquitto
from tests.integration.gateway.gateway_harness import CapturedStdout, VirtualPort, wait_open
from tests.integration.gateway.hub_stand_in import MqttAckResponder, wait_for

pytestmark = pytest.mark.integration


def test_serial_and_mqtt_nodes_reach_the_hub_with_alerts(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    gw_id = f"gw-pipe-{uuid.uuid4().hex[:6]}"
    hub = MqttAckResponder(mosquitto.host, mosquitto.port, f"hub-{gw_id}").start()
    port = VirtualPort(tmp_path / "ttyPIPE")
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[gateway]
id = "{gw_id}"
state_dir = "{tmp_path / 'state'}"
status_write_s = 0.2
[serial]
ports = ["{port.link}"]
[mqtt]
host = "{mosquitto.host}"
port = {mosquitto.port}
client_id = "{gw_id}-devices"
[output]
stdout = true
[uplink]
kind = "mqtt"
host = "{mosquitto.host}"
port = {mosquitto.port}
batch_max_age_s = 0.1
[heartbeat]
interval_s = 1
[[actions.rule]]
when = "raised"
min_level = "Siaga"
hazards = ["fire"]
argv = ["/bin/sh", "-c", "echo $SIAGA_NODE $SIAGA_LEVEL_NAME > {tmp_path / 'siren'}"]
""")
    out = CapturedStdout()
    runtime = GatewayRuntime(load_settings(config, {}), out)  # type: ignore[arg-type]
    runtime.start()
    dev = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{gw_id}")
    dev.connect(mosquitto.host, mosquitto.port)
    dev.loop_start()
    try:
        wait_open(runtime, str(port.link))
        assert runtime.mqtt is not None
        assert wait_for(runtime.mqtt.client.is_connected, 10)
        for seq in range(1, 11):
            port.send("D", "fire-01", seq, smoke=50.0 if seq < 6 else 3000.0, temp=30.0)
        for seq in range(1, 11):
            body = {"seq": seq, "v": {"vwc": 30.0 + seq}}
            dev.publish("siaga/node/soil-01/up", json.dumps(body), qos=1).wait_for_publish(5)
        out.wait_for("reading", 30)
        alerts = out.wait_for("alert", 1)
        assert wait_for(lambda: hub.unique_readings >= 30, 15), hub.unique_readings
        assert wait_for(lambda: any("fire-01" in h["nodes"] for h in hub.heartbeats), 10)
        assert wait_for((tmp_path / "siren").exists, 10)
        # The hub stores a batch before its ack reaches the gateway (10-45 ms here at load
        # 5-7, more under heavier load): stopping once the hub had stored the last readings
        # left them in the buffer when the core wrote its last status file (depth 30 or 31,
        # not 0) whenever the heartbeat and the siren were already in by then. The only way
        # found for the one failure seen under load (its message was not kept); with acks
        # held back 3 s it failed so every run.
        assert runtime.buffer is not None
        assert wait_for(lambda: runtime.buffer.stats().depth == 0, 15), runtime.buffer.stats()
    finally:
        dev.loop_stop()
        runtime.stop()
        hub.stop()
        port.close()
    assert any(a["node"] == "fire-01" and a["hazard"] == "fire" and a["level"] >= 3
               for a in alerts)
    assert hub.unique_readings == 30
    nodes = {key[1] for key in hub.reading_deliveries}
    assert nodes == {"fire-01", "soil-01"}
    assert any(key[1] == "fire-01" for key in hub.alert_deliveries)
    beat = next(h for h in hub.heartbeats if "fire-01" in h["nodes"])
    assert beat["nodes"]["fire-01"]["frames_ok"] >= 1
    assert (tmp_path / "siren").read_text().split()[0] == "fire-01"
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    assert status["buffer"]["depth"] == 0 and status["uplink"]["batches_acked"] >= 1
