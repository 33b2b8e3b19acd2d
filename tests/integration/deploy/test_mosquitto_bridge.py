"""deploy/mosquitto/bridge.conf between two real Mosquitto processes: a site broker bridged
over TLS (a certificate the test makes) to a central broker with logins and central.acl.
Gateway traffic keeps flowing into the site broker while the central broker is stopped for
8 s and started again; the backlog drains and every batch reaches the hub's subscriber at
the central broker, none lost. Acks travel back the other way. ~25 s: the outage is the test.
8 s (it was 20) is already several of the bridge's reconnect attempts (restart_timeout 2 15)
and ~320 held batches; a longer outage only holds more of the same (the queue's size is
checked against the config in test_bridge_conf_holds_a_long_outage).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from siaga.api.broker_credentials import set_password_entry
from siaga.simulators.proxy_servers import self_signed_certificate
from siaga.simulators.servers import Mosquitto

ROOT = Path(__file__).resolve().parents[3]
BRIDGE = ROOT / "deploy" / "mosquitto" / "bridge.conf"
CENTRAL_ACL = ROOT / "deploy" / "mosquitto" / "central.acl"
GATEWAY = "gw-batu-kota-01"  # one of the gateways central.acl grants the example bridge
OUTAGE_S = 8
RATE = 40  # batches per second from the site's gateways


def bridge_section(central: Mosquitto, cafile: Path, password: str) -> str:
    """The bridge part of bridge.conf, pointed at the test's central broker."""
    text = BRIDGE.read_text()
    section = text[text.index("connection siaga-central"):]
    section = re.sub(r"^address .*$", f"address 127.0.0.1:{central.port}", section, flags=re.M)
    section = re.sub(r"^remote_password .*$", f"remote_password {password}", section, flags=re.M)
    return re.sub(r"^bridge_cafile .*$", f"bridge_cafile {cafile}", section, flags=re.M)


def client(broker: Mosquitto, client_id: str, cafile: Path | None = None,
           **login: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    if cafile is not None:
        c.tls_set(ca_certs=str(cafile))
    if login:
        c.username_pw_set(login["username"], login["password"])
    c.reconnect_delay_set(0.2, 1)
    c.connect(broker.host, broker.port, keepalive=10)
    return c


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[tuple[Mosquitto, Mosquitto, dict[str, str], Path]]:
    cert, key = self_signed_certificate(tmp_path)
    passwords = {"siaga-hub": uuid.uuid4().hex, "siaga-bridge-batu": uuid.uuid4().hex}
    passwd = tmp_path / "passwd"
    for user, password in passwords.items():
        set_password_entry(passwd, user, password)
    (tmp_path / "central").mkdir()
    central = Mosquitto(workdir=tmp_path / "central", allow_anonymous=False, extra_config=(
        f"certfile {cert}\nkeyfile {key}\npassword_file {passwd}\nacl_file {CENTRAL_ACL}\n"))
    (tmp_path / "site").mkdir()
    site = Mosquitto(workdir=tmp_path / "site", extra_config=bridge_section(
        central, cert, passwords["siaga-bridge-batu"]))
    central.start()
    site.start()
    try:
        yield central, site, passwords, cert
    finally:
        site.cleanup()
        central.cleanup()


def test_bridge_conf_holds_a_long_outage() -> None:
    text = BRIDGE.read_text()
    queued = int(re.search(r"^max_queued_messages (\d+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert queued >= 100_000
    assert re.search(r"^cleansession false$", text, re.M)
    assert re.search(r"^topic siaga/gw/\+/data out 1$", text, re.M)


def test_batches_survive_a_central_broker_outage(
        brokers: tuple[Mosquitto, Mosquitto, dict[str, str], Path]) -> None:
    central, site, passwords, cert = brokers
    seen: list[int] = []
    acks: list[bytes] = []
    subscribed = threading.Event()
    hub = client(central, "siaga-hub-test", cert, username="siaga-hub",
                 password=passwords["siaga-hub"])
    hub.on_message = lambda _c, _u, m: seen.append(json.loads(m.payload)["seq"])
    hub.on_subscribe = lambda *_: subscribed.set()
    hub.on_connect = lambda c, *_: c.subscribe("siaga/gw/+/data", qos=1)
    hub.loop_start()
    gateway = client(site, f"siaga-gw-{GATEWAY}")
    gateway.on_message = lambda _c, _u, m: acks.append(m.payload)
    gateway.subscribe(f"siaga/gw/{GATEWAY}/ack", qos=1)
    gateway.loop_start()
    try:
        assert subscribed.wait(10)
        # The bridge connects within its first restart_timeout; an ack published centrally
        # reaches the gateway through it, so it is up both ways.
        deadline = time.monotonic() + 20
        while not acks and time.monotonic() < deadline:
            hub.publish(f"siaga/gw/{GATEWAY}/ack", b'{"ack": 0}', qos=1)
            time.sleep(0.5)
        assert acks, "no ack came back through the bridge"

        sent = 0
        stop_at = time.monotonic() + 3 + OUTAGE_S + 8
        outage_at = time.monotonic() + 3
        restarted = False
        while time.monotonic() < stop_at:
            gateway.publish(f"siaga/gw/{GATEWAY}/data", json.dumps({"seq": sent}), qos=1)
            sent += 1
            now = time.monotonic()
            if central.proc is not None and not restarted and now > outage_at:
                central.stop()
                down_since = now
            elif central.proc is None and now > down_since + OUTAGE_S:
                held = sent - len(set(seen))  # waiting at the site broker
                central.start()
                restarted = True
            time.sleep(1 / RATE)
        deadline = time.monotonic() + 40
        while len(set(seen)) < sent and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        gateway.loop_stop()
        gateway.disconnect()
        hub.loop_stop()
        hub.disconnect()
    assert restarted
    assert held > RATE * OUTAGE_S / 2, f"only {held} batches were held during the outage"
    missing = sorted(set(range(sent)) - set(seen))
    assert not missing, f"{len(missing)} of {sent} batches lost, first {missing[:10]}"
    print(f"bridge: {sent} batches sent, {held} held during {OUTAGE_S} s without the central "
          f"broker, {len(seen) - sent} duplicates, none lost")
