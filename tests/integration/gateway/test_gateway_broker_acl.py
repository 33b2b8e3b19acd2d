"""The shipped Mosquitto config for the gateway's broker (deploy/mosquitto/) on a real
Mosquitto: clients must log in, and each node may publish only under its own id."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from siaga.simulators.servers import Mosquitto, free_port, require_binary

pytestmark = pytest.mark.integration
DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "mosquitto"
USERS = {"siaga-gateway": "gw-pass", "slope-01": "n1-pass", "slope-02": "n2-pass"}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    passwd = tmp_path / "passwd"
    tool = require_binary("mosquitto_passwd", "mosquitto")
    for user, password in USERS.items():
        flags = ["-b", "-c"] if not passwd.exists() else ["-b"]
        subprocess.run([tool, *flags, str(passwd), user, password], check=True)
    shutil.copy(DEPLOY / "acl", tmp_path / "acl")
    port = free_port()
    conf = (DEPLOY / "gateway.conf").read_text()
    assert "listener 1883 0.0.0.0" in conf
    conf = conf.replace("listener 1883 0.0.0.0", f"listener {port} 127.0.0.1")
    conf = conf.replace("/etc/mosquitto/siaga/", f"{tmp_path}/")
    # What Debian's /etc/mosquitto/mosquitto.conf adds around the conf.d file.
    conf += f"\npersistence true\npersistence_location {tmp_path}/\nlog_dest stderr\n"
    if os.geteuid() == 0:  # as root, mosquitto drops to user mosquitto, who cannot read tmp
        conf += "user root\n"
    server = Mosquitto(port=port, workdir=tmp_path, config=conf).start()
    yield port
    server.stop()


def connect(port: int, user: str | None, password: str | None = None) -> tuple[mqtt.Client, bool]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{free_port()}")
    if user is not None:
        client.username_pw_set(user, password)
    accepted = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: accepted.set() if not rc.is_failure else None
    client.connect("127.0.0.1", port)
    client.loop_start()
    ok = accepted.wait(3)
    return client, ok


def test_anonymous_and_wrong_password_are_refused(broker: int) -> None:
    for user, password in ((None, None), ("slope-01", "wrong")):
        client, ok = connect(broker, user, password)
        client.loop_stop()
        assert not ok


def test_node_publishes_only_under_its_own_id(broker: int) -> None:
    gateway, ok = connect(broker, "siaga-gateway", USERS["siaga-gateway"])
    assert ok
    got: list[tuple[str, dict[str, int]]] = []
    arrived = threading.Event()
    subscribed = threading.Event()
    gateway.on_subscribe = lambda *a: subscribed.set()
    gateway.on_message = lambda c, u, m: (got.append((m.topic, json.loads(m.payload))),
                                          arrived.set())
    gateway.subscribe("siaga/node/+/up", qos=1)
    assert subscribed.wait(3)
    node, ok = connect(broker, "slope-01", USERS["slope-01"])
    assert ok
    node.publish("siaga/node/slope-02/up", json.dumps({"seq": 1}), qos=1).wait_for_publish(3)
    node.publish("siaga/node/slope-01/up", json.dumps({"seq": 2}), qos=1).wait_for_publish(3)
    assert arrived.wait(3)
    node.publish("siaga/node/slope-01/up", json.dumps({"seq": 3}), qos=1).wait_for_publish(3)
    assert gateway.is_connected()
    for c in (node, gateway):
        c.disconnect()
        c.loop_stop()
    assert ("siaga/node/slope-02/up", {"seq": 1}) not in got
    assert got[0] == ("siaga/node/slope-01/up", {"seq": 2})
