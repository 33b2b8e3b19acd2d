"""The MQTT uplink's TLS and username/password options against a real Mosquitto with a
TLS listener (certificates made by openssl for the test) and a password file;
``MqttAckResponder`` stands in for the hub until the hub's own tests exercise the same
contract (docs/uplink.md)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.uplink.mqtt_uplink import MqttUplink
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.servers import Mosquitto, free_port, require_binary
from tests.integration.gateway.hub_stand_in import MqttAckResponder, wait_for
from tests.integration.uplink.running import running
from tests.integration.uplink.test_uplink_mqtt import reading

pytestmark = pytest.mark.integration


def make_certs(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"),
        "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", str(d / "san.cnf"), "-out", str(d / "server.pem"))


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """One Mosquitto: a plain listener for the hub stand-in, and a TLS listener where
    clients must log in (the gateway's side). Yields (plain port, TLS port, cert dir)."""
    make_certs(tmp_path)
    passwd = tmp_path / "passwd"
    subprocess.run([require_binary("mosquitto_passwd", "mosquitto"), "-b", "-c", str(passwd),
                    "gw-tls", "s3cret"], check=True)
    for f in tmp_path.iterdir():
        f.chmod(0o644)
    plain, tls = free_port(), free_port()
    conf = (
        ("user root\n" if os.geteuid() == 0 else "")  # root: mosquitto cannot read tmp
        + "per_listener_settings true\nlog_dest stderr\n"
        f"listener {plain} 127.0.0.1\nallow_anonymous true\n"
        f"listener {tls} 127.0.0.1\ncafile {tmp_path}/ca.pem\n"
        f"certfile {tmp_path}/server.pem\nkeyfile {tmp_path}/server.key\n"
        f"allow_anonymous false\npassword_file {passwd}\n"
    )
    server = Mosquitto(port=tls, workdir=tmp_path, config=conf).start()
    yield plain, tls, tmp_path
    server.stop()


def tls_settings(tls: int, certs: Path, password: str) -> UplinkSettings:
    return UplinkSettings(kind="mqtt", gateway_id="gw-tls", host="127.0.0.1", port=tls,
                          tls=True, ca=str(certs / "ca.pem"), username="gw-tls",
                          password=password, batch_max_age_s=0.1, ack_timeout_s=3.0)


def test_tls_with_login_delivers(tls_broker: tuple[int, int, Path],
                                 buffer: StoreAndForwardBuffer) -> None:
    plain, tls, certs = tls_broker
    hub = MqttAckResponder("127.0.0.1", plain).start()
    buffer.append([reading(i) for i in range(20)], [])
    up = MqttUplink(tls_settings(tls, certs, "s3cret"), buffer)
    with running(up, hub):
        assert wait_for(lambda: buffer.stats().depth == 0, 15)
    assert hub.unique_readings == 20


def test_wrong_password_keeps_everything(tls_broker: tuple[int, int, Path],
                                         buffer: StoreAndForwardBuffer) -> None:
    plain, tls, certs = tls_broker
    buffer.append([reading(1)], [])
    up = MqttUplink(tls_settings(tls, certs, "wrong"), buffer)
    with running(up):
        assert not wait_for(lambda: up.connected, 2)
    assert buffer.stats().depth == 1


# paho-mqtt drops the socket of a failed TLS handshake without closing it; the garbage
# collector closes it (the ResourceWarning is paho's, not the uplink's).
@pytest.mark.filterwarnings("ignore:Exception ignored in. <ssl.SSLSocket"
                            ":pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")
def test_server_certificate_is_verified(tls_broker: tuple[int, int, Path],
                                       buffer: StoreAndForwardBuffer) -> None:
    """Without the hub's CA (system CAs only) the handshake fails: nothing is sent to a
    broker the gateway cannot verify, and the rows stay."""
    _, tls, certs = tls_broker
    buffer.append([reading(1)], [])
    s = replace(tls_settings(tls, certs, "s3cret"), ca=None)
    up = MqttUplink(s, buffer)
    with running(up):
        assert not wait_for(lambda: up.connected, 2)
    assert buffer.stats().depth == 1
    # The same settings with the CA do connect: the failure above was the certificate.
    ok = MqttUplink(tls_settings(tls, certs, "s3cret"), buffer)
    with running(ok):
        assert wait_for(lambda: ok.connected, 10)
