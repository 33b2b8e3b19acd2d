"""The shipped broker config (deploy/mosquitto/hub.conf + hub.acl) on a real Mosquitto, with
gateway credentials written by ``siaga-hub gateway add --mosquitto-passwd``: a gateway may
publish only its own data/heartbeat/status and read only its own acks; the hub reads all."""

from __future__ import annotations

import getpass
import queue
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from siaga.api.broker_credentials import set_password_entry
from siaga.api.cli import main as hub_cli
from siaga.simulators.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "mosquitto"
HUB_PASSWORD = "hub-broker-password"


def render_config(tmp: Path, port: int) -> str:
    """hub.conf with only the machine-specific lines replaced (port, paths, log)."""
    acl = tmp / "acl"
    acl.write_text((DEPLOY / "hub.acl").read_text())
    out = []
    for line in (DEPLOY / "hub.conf").read_text().splitlines():
        key = line.split(" ", 1)[0]
        line = {
            "listener": f"listener {port} 127.0.0.1",
            "password_file": f"password_file {tmp / 'passwd'}",
            "acl_file": f"acl_file {acl}",
            "persistence_location": f"persistence_location {tmp}/",
            "log_dest": "log_dest stderr",
        }.get(key, line)
        out.append(line)
    # Started as root, Mosquitto switches to the "mosquitto" user, which cannot enter the
    # test's private tmp dir; stay the user running the tests (ignored when not root).
    out.append(f"user {getpass.getuser()}")
    return "\n".join(out) + "\n"


@pytest.fixture
def passwd(tmp_path: Path) -> Path:
    """The broker's password file with the hub's own user; gateways are added by tests."""
    path = tmp_path / "passwd"
    set_password_entry(path, "siaga-hub", HUB_PASSWORD)
    return path


@pytest.fixture
def start_broker(tmp_path: Path, passwd: Path) -> Iterator[Callable[[], Mosquitto]]:
    """Brokers on the shipped hub.conf; the password file is the ``passwd`` fixture's."""
    started: list[Mosquitto] = []

    def start() -> Mosquitto:
        port = free_port()
        started.append(Mosquitto(port=port, workdir=tmp_path,
                                 config=render_config(tmp_path, port)).start())
        return started[-1]

    yield start
    for b in started:
        b.stop()


class Client:
    """A paho client whose connect result, subscriptions and messages arrive in queues."""

    def __init__(self, broker: Mosquitto, username: str | None, password: str | None) -> None:
        self.connected: queue.Queue[int] = queue.Queue()
        self.subacks: queue.Queue[list[int]] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{username}-{id(self)}")
        if username is not None:
            self.c.username_pw_set(username, password)
        self.c.on_connect = lambda c, u, f, rc, p: self.connected.put(rc.value)
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.put([r.value for r in rcs])
        self.c.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.c.connect("127.0.0.1", broker.port)
        self.c.loop_start()
        self.rc = self.connected.get(timeout=10)

    def subscribe(self, topic: str) -> int:
        self.c.subscribe(topic, qos=1)
        return self.subacks.get(timeout=10)[0]

    def publish(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _gateway_token(tmp_path: Path, passwd: Path, gateway: str,
                   capsys: pytest.CaptureFixture[str]) -> str:
    config = tmp_path / "hub.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "hub.sqlite3"}"\n')
    capsys.readouterr()
    assert hub_cli(["gateway", "add", gateway, "--config", str(config),
                    "--mosquitto-passwd", str(passwd)]) == 0
    return capsys.readouterr().out.strip()


def test_gateways_are_confined_to_their_own_topics(
    start_broker: Callable[[], Mosquitto], passwd: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token_a = _gateway_token(tmp_path, passwd, "gw-a", capsys)
    _gateway_token(tmp_path, passwd, "gw-b", capsys)
    broker = start_broker()
    hub = Client(broker, "siaga-hub", HUB_PASSWORD)
    assert hub.rc == 0
    assert hub.subscribe("siaga/gw/+/#") == 1
    gw_a = Client(broker, "gw-a", token_a)
    assert gw_a.rc == 0
    try:
        gw_a.publish("siaga/gw/gw-a/data", b"mine")
        gw_a.publish("siaga/gw/gw-a/heartbeat", b"hb")
        gw_a.publish("siaga/gw/gw-b/data", b"forged")  # denied: dropped by the broker
        gw_a.publish("siaga/gw/gw-a/status", b"online")
        got = [hub.messages.get(timeout=10) for _ in range(3)]
        assert got == [("siaga/gw/gw-a/data", b"mine"), ("siaga/gw/gw-a/heartbeat", b"hb"),
                       ("siaga/gw/gw-a/status", b"online")]
        assert hub.messages.empty()
        # Mosquitto 2 grants the subscription but checks read access on delivery.
        gw_a.subscribe("siaga/gw/+/ack")
        hub.publish("siaga/gw/gw-b/ack", b'{"batch": "b", "status": "stored"}')
        hub.publish("siaga/gw/gw-a/ack", b'{"batch": "a", "status": "stored"}')
        assert gw_a.messages.get(timeout=10) == ("siaga/gw/gw-a/ack",
                                                 b'{"batch": "a", "status": "stored"}')
        assert gw_a.messages.empty()
    finally:
        gw_a.close()
        hub.close()


def test_wrong_password_and_anonymous_clients_are_refused(
    start_broker: Callable[[], Mosquitto],
) -> None:
    broker = start_broker()
    wrong = Client(broker, "siaga-hub", "not-the-password")
    anonymous = Client(broker, None, None)
    try:
        assert wrong.rc != 0
        assert anonymous.rc != 0
    finally:
        wrong.close()
        anonymous.close()


def test_hub_may_use_a_shared_subscription(start_broker: Callable[[], Mosquitto]) -> None:
    broker = start_broker()
    hub = Client(broker, "siaga-hub", HUB_PASSWORD)
    try:
        assert hub.subscribe("$share/hubs/siaga/gw/+/data") == 1
    finally:
        hub.close()
