"""A TLS file the uplink cannot load fails the gateway at start, with ``uplink.sender`` a
thread or a process (where the transport, and so the files, live in the sender: it used to be
restarted for ever instead). No server is needed: the uplinks fail as they are built."""

from __future__ import annotations

from pathlib import Path

import pytest

from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.errors import ConfigError
from siaga.gateway.uplink.http_uplink import HttpUplink
from siaga.gateway.uplink.mqtt_uplink import MqttUplink
from siaga.gateway.uplink.settings import UplinkSettings
from tests.integration.uplink.senders import SENDERS

pytestmark = pytest.mark.integration


def build(kind: str, buffer: StoreAndForwardBuffer, **tls: object) -> None:
    if kind == "mqtt":
        MqttUplink(UplinkSettings(kind="mqtt", gateway_id="gw-tls", host="127.0.0.1", tls=True,
                                  **tls), buffer)  # type: ignore[arg-type]
    else:
        HttpUplink(UplinkSettings(kind="http", gateway_id="gw-tls", url="https://127.0.0.1:1",
                                  token="t", **tls), buffer)  # type: ignore[arg-type]


@SENDERS
@pytest.mark.parametrize("kind", ["mqtt", "http"])
def test_missing_ca_file_is_a_config_error(kind: str, sender: str, tmp_path: Path,
                                           buffer: StoreAndForwardBuffer) -> None:
    with pytest.raises(ConfigError) as err:
        build(kind, buffer, sender=sender, ca=str(tmp_path / "no-such-ca.pem"))
    assert err.value.key == "uplink.ca" and "no-such-ca.pem" in str(err.value)


@SENDERS
@pytest.mark.parametrize("kind", ["mqtt", "http"])
def test_unreadable_client_certificate_is_a_config_error(
        kind: str, sender: str, tmp_path: Path, buffer: StoreAndForwardBuffer) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    (tmp_path / "key.pem").write_text("not a key\n")
    with pytest.raises(ConfigError) as err:
        build(kind, buffer, sender=sender, cert=str(tmp_path / "cert.pem"),
              key=str(tmp_path / "key.pem"))
    assert err.value.key == "uplink.cert" and "cert.pem" in str(err.value)
