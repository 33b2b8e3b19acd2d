"""Debian's HAProxy with the config ``siaga-hub proxy-config haproxy`` renders: ``haproxy -c``
accepts it, and running (its config in a temp dir, foreground, a free loopback port) it
serves two real hub processes as nginx does in test_nginx_proxy.py. ~15 s: two hubs."""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from siaga.api.proxy_config import ProxySite, haproxy_config, haproxy_pem
from siaga.api.settings import settings_from_mapping
from siaga.simulators.proxy_servers import HAProxy, self_signed_certificate
from siaga.simulators.servers import (
    HubProcess,
    PostgreSQL,
    free_port,
    start_together,
    stop_together,
)


def test_the_rendered_config_passes_haproxy_c(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    site = ProxySite(server_name="siaga.example.go.id", hubs=("127.0.0.1:8081", "127.0.0.1:8082"),
                     certificate=cert, certificate_key=key, https_port=free_port(),
                     http_port=free_port(), listen_address="127.0.0.1")
    # HAProxy takes the certificate and its key from one file.
    haproxy_pem(site).write_text(cert.read_text() + key.read_text())
    checked = HAProxy(haproxy_config(settings_from_mapping({}), site), workdir=tmp_path).check()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configuration file is valid" in checked.stdout


def test_a_broken_config_is_refused(tmp_path: Path) -> None:
    """The check above can fail: HAProxy refuses a certificate file it cannot read."""
    site = ProxySite(server_name="x", hubs=("127.0.0.1:8081",), certificate=tmp_path / "none.crt",
                     certificate_key=tmp_path / "none.key", https_port=free_port(), http_port=None,
                     listen_address="127.0.0.1")
    checked = HAProxy(haproxy_config(settings_from_mapping({}), site), workdir=tmp_path).check()
    assert checked.returncode != 0


def test_haproxy_in_front_of_two_hubs(postgres: PostgreSQL, tmp_path: Path) -> None:
    """The rendered HAProxy config, running: TLS with HTTP/2 to both hubs, the client's own
    address at the hub, /metrics refused, a killed hub costs no request, and the live stream
    through its own backend arrives keepalive by keepalive."""
    url = postgres.create_database()
    hubs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        hubs.append(HubProcess(tmp_path / name, '[server]\nlog_level = "info"\n'
                               '[live]\nkeepalive_s = 1\n', database_url=url))
    subprocess.run([sys.executable, "-m", "siaga.api", "--config", str(hubs[0].config),
                    "user", "add", "ops", "--agency", "BPBD", "--role", "responder",
                    "--password-stdin"], input="proxy-test-password\n", text=True, check=True,
                   capture_output=True)
    cert, key = self_signed_certificate(tmp_path)
    port = free_port()
    site = ProxySite(server_name="localhost", hubs=tuple(f"127.0.0.1:{h.port}" for h in hubs),
                     certificate=cert, certificate_key=key, https_port=port, http_port=None,
                     listen_address="127.0.0.1")
    haproxy_pem(site).write_text(cert.read_text() + key.read_text())
    proxy = HAProxy(haproxy_config(settings_from_mapping({"live": {"keepalive_s": 1}}), site),
                    workdir=tmp_path / "haproxy", port=port)
    try:
        start_together(hubs)
        proxy.start()
        verify = ssl.create_default_context(cafile=str(cert))
        transport = httpx.HTTPTransport(verify=verify, local_address="127.0.0.7", http2=False)
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", transport=transport,
                          timeout=10) as client:
            for i in range(8):
                r = client.get(f"/healthz?probe=ha-{i}", headers={"X-Forwarded-For": "6.6.6.6"})
                assert r.status_code == 200, r.text
            assert client.get("/metrics").status_code == 403
            token = client.post("/api/v1/auth/token", json={
                "username": "ops", "password": "proxy-test-password"}).json()["access_token"]
            arrivals = []
            start = time.monotonic()
            with client.stream("GET", "/api/v1/stream",
                               headers={"Authorization": f"Bearer {token}"}) as r:
                for line in r.iter_lines():
                    if line.startswith(": keepalive"):
                        arrivals.append(time.monotonic() - start)
                        if len(arrivals) == 3:
                            break
            assert arrivals[0] < 5 and all(
                b - a > 0.3 for a, b in zip(arrivals, arrivals[1:], strict=False))
            time.sleep(0.5)
            lines = [[x for x in h.log.read_text().splitlines() if "probe=ha-" in x] for h in hubs]
            assert all(lines), [len(x) for x in lines]
            assert all("127.0.0.7:" in x and "6.6.6.6" not in x for x in lines[0] + lines[1])

            hubs[1].kill()
            codes = [client.get(f"/healthz?probe=ha-after-{i}").status_code for i in range(20)]
        assert codes == [200] * 20
    finally:
        proxy.cleanup()
        stop_together(hubs)
