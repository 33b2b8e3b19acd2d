"""The gateway's MQTT source against a real Mosquitto started by the test fixture."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from siaga.gateway.config import load_settings
from siaga.gateway.runtime import GatewayRuntime
from siaga.simulators.gateway_session import open_gateway_session
from siaga.simulators.servers import Mosquitto
from tests.integration.gateway.gateway_harness import CapturedStdout

pytestmark = pytest.mark.integration


def publisher(broker: Mosquitto) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:8]}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def publish(client: mqtt.Client, topic: str, body: object) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    client.publish(topic, payload, qos=1).wait_for_publish(5)


def start(
    tmp_path: Path, broker: Mosquitto, **extra: object
) -> tuple[GatewayRuntime, CapturedStdout]:
    overrides = {
        "mqtt.host": broker.host,
        "mqtt.port": broker.port,
        "mqtt.client_id": f"gw-test-{uuid.uuid4().hex[:8]}",
        "output.stdout": True,
        "gateway.state_dir": str(tmp_path / "state"),
        "gateway.status_write_s": 0.2,
        **extra,
    }
    out = CapturedStdout()
    runtime = GatewayRuntime(load_settings(None, {}, overrides), out)  # type: ignore[arg-type]
    runtime.start()
    return runtime, out


def wait_connected(runtime: GatewayRuntime) -> None:
    assert runtime.mqtt is not None
    deadline = time.monotonic() + 10
    while not runtime.mqtt.client.is_connected():
        assert time.monotonic() < deadline, "gateway did not connect to the broker"
        time.sleep(0.02)
    time.sleep(0.2)  # the SUBACK


def test_device_messages_become_readings_errors_and_node_state(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    runtime, out = start(tmp_path, mosquitto)
    dev = publisher(mosquitto)
    try:
        wait_connected(runtime)
        publish(dev, "siaga/node/m-01/hello", {"seq": 0, "fw": "3.1.0", "ch": "smoke|temp",
                                              "int": 5})
        publish(dev, "siaga/node/m-01/up", {"seq": 1, "v": {"smoke": 120.0, "temp": 31.0}})
        publish(dev, "siaga/node/m-01/up", {"seq": 1, "v": {"smoke": 120.0, "temp": 31.0}})
        publish(dev, "siaga/node/m-01/up", b"{not json")
        publish(dev, "siaga/node/m-01/up", {"seq": 4, "v": {"smoke": 130.0, "temp": 31.5}})
        readings = out.wait_for("reading", 4)
        errors = out.wait_for("error", 1)
    finally:
        dev.loop_stop()
        runtime.stop()
    smoke = [(r["seq"], r["value"], r["source"]) for r in readings if r["channel"] == "smoke"]
    assert smoke == [(1, 120.0, "mqtt"), (4, 130.0, "mqtt")]
    assert errors[0]["source"] == "mqtt" and errors[0]["reason"]
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    assert status["nodes"]["m-01"]["duplicates"] == 1
    assert status["nodes"]["m-01"]["gaps"] == 2
    assert status["totals"]["malformed"] == 1
    assert status["node_state"]["m-01"]["firmware"] == "3.1.0"


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_messages_sent_while_the_gateway_is_down_arrive_after_restart(
    tmp_path: Path, mosquitto: Mosquitto, protocol: str
) -> None:
    # Also pins a bug: messages held back for a batch (more bytes were waiting) stayed
    # stuck when the packet after them was the SUBACK, not another message.
    client_id = f"gw-persist-{uuid.uuid4().hex[:8]}"
    settings = {"mqtt.client_id": client_id, "mqtt.protocol": protocol}
    runtime, out = start(tmp_path, mosquitto, **settings)
    wait_connected(runtime)
    runtime.stop()
    dev = publisher(mosquitto)
    try:
        for seq in range(1, 51):
            publish(dev, "siaga/node/m-02/up", {"seq": seq, "v": {"vwc": float(seq)}})
        runtime, out = start(tmp_path, mosquitto, **settings)
        readings = out.wait_for("reading", 50)
    finally:
        dev.loop_stop()
        runtime.stop()
    assert [r["seq"] for r in readings] == list(range(1, 51))


def test_a_session_opened_first_keeps_what_nodes_publish_before_the_gateway_starts(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    # The soak benchmark published 3 s after starting the gateway; under load the gateway
    # was still importing, and what went out before its SUBSCRIBE reached nobody (8,462
    # readings "lost"). Without the session nothing published before the start arrives.
    dev = publisher(mosquitto)
    late_id, session_id = (f"gw-late-{uuid.uuid4().hex[:8]}" for _ in range(2))
    open_gateway_session(mosquitto.host, mosquitto.port, session_id)
    late: GatewayRuntime | None = None
    runtime: GatewayRuntime | None = None
    try:
        for seq in range(1, 31):
            publish(dev, "siaga/node/m-05/up", {"seq": seq, "v": {"vwc": float(seq)}})
        late, late_out = start(tmp_path / "late", mosquitto, **{"mqtt.client_id": late_id})
        wait_connected(late)
        publish(dev, "siaga/node/m-05/up", {"seq": 31, "v": {"vwc": 31.0}})
        without_session = late_out.wait_for("reading", 1)
        runtime, out = start(tmp_path / "session", mosquitto,
                             **{"mqtt.client_id": session_id})
        readings = out.wait_for("reading", 31)
    finally:
        dev.loop_stop()
        for r in (late, runtime):
            if r is not None:
                r.stop()
    assert [r["seq"] for r in without_session] == [31]
    assert [r["seq"] for r in readings] == list(range(1, 32))


def test_command_over_mqtt_is_acked(tmp_path: Path, mosquitto: Mosquitto) -> None:
    runtime, out = start(tmp_path, mosquitto)
    dev = publisher(mosquitto)
    got: list[bytes] = []
    arrived = threading.Event()

    def on_cmd(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        arrived.set()

    dev.on_message = on_cmd
    dev.subscribe("siaga/node/m-03/cmd", qos=1)
    try:
        wait_connected(runtime)
        publish(dev, "siaga/node/m-03/up", {"seq": 10, "v": {"vwc": 1.0}})
        out.wait_for("reading", 1)
        future = runtime.command("m-03", "interval", 15)
        assert arrived.wait(5)
        cmd = json.loads(got[0])
        assert cmd["cmd"] == "interval" and cmd["v"] == 15
        publish(dev, "siaga/node/m-03/ack", {"seq": 11, "cseq": cmd["seq"], "ok": 1})
        result = future.result(timeout=5)
    finally:
        dev.loop_stop()
        runtime.stop()
    assert result.ok and result.cseq == cmd["seq"]


def test_reconnects_after_the_broker_restarts(
    tmp_path: Path, fresh_mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="siaga.gateway.sources.mqtt_source")
    runtime, out = start(tmp_path, fresh_mosquitto, **{
        "mqtt.reconnect_min_s": 1, "mqtt.reconnect_max_s": 1,
    })
    try:
        wait_connected(runtime)
        dev = publisher(fresh_mosquitto)
        publish(dev, "siaga/node/m-04/up", {"seq": 1, "v": {"vwc": 1.0}})
        dev.loop_stop()
        out.wait_for("reading", 1)
        fresh_mosquitto.stop()
        time.sleep(2.5)  # a few failed reconnects: logged once
        fresh_mosquitto.start()
        wait_connected(runtime)
        dev = publisher(fresh_mosquitto)
        publish(dev, "siaga/node/m-04/up", {"seq": 2, "v": {"vwc": 2.0}})
        dev.loop_stop()
        readings = out.wait_for("reading", 2)
    finally:
        runtime.stop()
    assert [r["seq"] for r in readings] == [1, 2]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("disconnected" in m or "cannot connect" in m for m in messages) == 1
    assert sum("connected again after" in m for m in messages) == 1


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_qos0_device_messages_are_taken_without_a_puback(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture, protocol: str
) -> None:
    # A QoS 0 message has no packet id. The source used to ack it anyway, with a PUBACK
    # for packet id 0, which Mosquitto answers by closing the connection: a node
    # publishing at QoS 0 cut the gateway off after every batch.
    caplog.set_level(logging.INFO, logger="siaga.gateway.sources.mqtt_source")
    runtime, out = start(tmp_path, mosquitto, **{"mqtt.protocol": protocol})
    dev = publisher(mosquitto)
    try:
        wait_connected(runtime)
        infos = [dev.publish("siaga/node/m-06/up", json.dumps(
            {"seq": seq, "v": {"vwc": float(seq)}}).encode(), qos=seq % 2)
            for seq in range(1, 41)]
        for info in infos:
            info.wait_for_publish(5)
        readings = out.wait_for("reading", 40)
        time.sleep(0.5)  # a PUBACK the broker refuses closes the connection at once
        assert runtime.mqtt is not None and runtime.mqtt.client.is_connected()
    finally:
        dev.loop_stop()
        runtime.stop()
    assert [r["seq"] for r in readings] == list(range(1, 41))
    assert not [r for r in caplog.records if "disconnected" in r.getMessage()]


@pytest.mark.parametrize(("max_ms", "most"), [(200.0, 6), (0.0, 12)])
def test_a_trickle_shares_commits_while_the_window_grows(
    tmp_path: Path, mosquitto: Mosquitto, max_ms: float, most: int
) -> None:
    # 12 messages 25 ms apart: past the 5 ms window, so each was its own commit; with
    # group_commit_max_ms they share a few.
    runtime, out = start(tmp_path, mosquitto, **{"gateway.group_commit_max_ms": max_ms,
                                                 "buffer.path": str(tmp_path / "b.sqlite3")})
    dev = publisher(mosquitto)
    try:
        wait_connected(runtime)
        before = runtime.core.stats.commits
        for seq in range(1, 13):
            dev.publish("siaga/node/m-07/up", json.dumps({"seq": seq, "v": {"vwc": 1.0}}), qos=1)
            time.sleep(0.025)
        readings = out.wait_for("reading", 12)
        time.sleep(0.4)
        commits = runtime.core.stats.commits - before
    finally:
        dev.loop_stop()
        runtime.stop()
    assert [r["seq"] for r in readings] == list(range(1, 13))
    assert 1 <= commits <= most
    if max_ms == 0.0:
        # 25 ms apart, a 5 ms window: mostly one message a commit (>= 4, not more: paho
        # may send a burst of them together on a loaded host)
        assert commits >= 4
