"""Debian's HAProxy accepts the config ``siaga-hub proxy-config haproxy`` renders (``haproxy -c``;
the live proxy test runs nginx, the default)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from siaga.api.proxy_config import ProxySite, haproxy_config
from siaga.api.settings import settings_from_mapping
from siaga.simulators.proxy_servers import self_signed_certificate
from siaga.simulators.servers import free_port, require_binary


def test_the_rendered_config_passes_haproxy_c(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    # HAProxy takes the certificate and its key from one file, named after the certificate.
    cert.with_suffix(".pem").write_text(cert.read_text() + key.read_text())
    site = ProxySite(server_name="siaga.example.go.id", hubs=("127.0.0.1:8081", "127.0.0.1:8082"),
                     certificate=cert, certificate_key=key, https_port=free_port(),
                     http_port=free_port(), listen_address="127.0.0.1")
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(haproxy_config(settings_from_mapping({}), site))
    checked = subprocess.run([require_binary("haproxy", "haproxy"), "-c", "-f", str(conf)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configuration file is valid" in checked.stdout


def test_a_broken_config_is_refused(tmp_path: Path) -> None:
    """The check above can fail: HAProxy refuses a certificate file it cannot read."""
    site = ProxySite(server_name="x", hubs=("127.0.0.1:8081",), certificate=tmp_path / "none.crt",
                     certificate_key=tmp_path / "none.key", https_port=free_port(), http_port=None,
                     listen_address="127.0.0.1")
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(haproxy_config(settings_from_mapping({}), site))
    checked = subprocess.run([require_binary("haproxy", "haproxy"), "-c", "-f", str(conf)],
                             capture_output=True, text=True)
    assert checked.returncode != 0
