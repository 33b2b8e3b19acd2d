"""Debian's nginx, with the config ``siaga-hub proxy-config nginx`` renders, in front of two
real ``siaga-hub serve`` processes on one PostgreSQL database: TLS (a certificate the test
makes), HTTP/2 offered, requests spread over both hubs, a killed hub left out without a
failed request, the live stream passed through byte by byte and resumed through the proxy
on the other hub (Last-Event-ID) when its own dies, missing nothing, and the client's own
address (never a forged X-Forwarded-For) reaching the hub, and a gateway's HTTP uplink over
TLS keeping one connection for all its batches. nginx runs from its own prefix in a temp dir on
a free port; nothing of /etc/nginx or a system service is used.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from siaga.api.proxy_config import ProxySite, nginx_config
from siaga.api.settings import settings_from_mapping
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.uplink.http_uplink import HttpUplink
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.proxy_servers import Nginx, self_signed_certificate
from siaga.simulators.servers import (
    HubProcess,
    PostgreSQL,
    free_port,
    start_together,
    stop_together,
)
from tests.integration.uplink.test_uplink_mqtt import reading

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "proxy-test-password"
# A second loopback address for the client, so the hub can tell it from the proxy (127.0.0.1).
CLIENT_ADDRESS = "127.0.0.7"
GATEWAY = "gw-proxy-test"


@dataclass
class Stand:
    hubs: list[HubProcess]
    proxy: Nginx
    cert: Path
    gateway_token: str

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.proxy.port}"

    def client(self, timeout: httpx.Timeout | float = 10) -> httpx.Client:
        verify = ssl.create_default_context(cafile=str(self.cert))
        transport = httpx.HTTPTransport(verify=verify, local_address=CLIENT_ADDRESS)
        return httpx.Client(base_url=self.url, transport=transport, timeout=timeout)


def hub_toml(shared: Path) -> str:
    return (f'[server]\nlog_level = "info"\n[live]\nkeepalive_s = 1\n'
            f'[telemetry]\nkind = "sqlite"\npath = "{shared}/telemetry.sqlite3"\n')


@pytest.fixture(scope="module")
def stand(postgres: PostgreSQL, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    shared = tmp_path_factory.mktemp("proxy")
    url = postgres.create_database()
    hubs = []
    for name in ("a", "b"):
        (shared / name).mkdir()
        hubs.append(HubProcess(shared / name, hub_toml(shared), database_url=url))
    subprocess.run([sys.executable, "-m", "siaga.api", "--config", str(hubs[0].config),
                    "user", "add", "ops", "--agency", "BPBD", "--role", "responder",
                    "--password-stdin"], input=PASSWORD + "\n", text=True, check=True,
                   capture_output=True)
    gateway_token = subprocess.run(
        [sys.executable, "-m", "siaga.api", "--config", str(hubs[0].config), "gateway", "add",
         GATEWAY], text=True, check=True, capture_output=True).stdout.strip()
    cert, key = self_signed_certificate(shared)
    settings = settings_from_mapping({"live": {"keepalive_s": 1}})
    port = free_port()
    site = ProxySite(server_name="localhost", hubs=tuple(f"127.0.0.1:{h.port}" for h in hubs),
                     certificate=cert, certificate_key=key, https_port=port, http_port=None,
                     listen_address="127.0.0.1")
    proxy = Nginx(nginx_config(settings, site), workdir=shared / "nginx", port=port)
    try:
        start_together(hubs)
        proxy.start()
        yield Stand(hubs, proxy, cert, gateway_token)
    finally:
        proxy.stop()
        stop_together(hubs)


def served_by(hub: HubProcess, marker: str) -> list[str]:
    """The hub's access-log lines of requests carrying ``marker``."""
    return [line for line in hub.log.read_text(errors="replace").splitlines() if marker in line]


def test_the_rendered_config_passes_nginx_t(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    site = ProxySite(server_name="siaga.example.go.id", hubs=("127.0.0.1:8081", "127.0.0.1:8082"),
                     certificate=cert, certificate_key=key, https_port=free_port(),
                     http_port=free_port(), listen_address="127.0.0.1")
    checked = Nginx(nginx_config(settings_from_mapping({}), site), workdir=tmp_path / "n").check()
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_tls_with_http2_offered(stand: Stand) -> None:
    context = ssl.create_default_context(cafile=str(stand.cert))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", stand.proxy.port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_requests_reach_both_hubs_with_the_clients_own_address(stand: Stand) -> None:
    with stand.client() as client:
        for i in range(12):
            # A forged X-Forwarded-For must be replaced by the proxy, never believed.
            r = client.get(f"/healthz?probe=spread-{i}", headers={"X-Forwarded-For": "6.6.6.6"})
            assert r.status_code == 200, r.text
    time.sleep(0.5)  # the access log line is written after the response
    lines = [served_by(hub, "probe=spread-") for hub in stand.hubs]
    assert sum(len(x) for x in lines) == 12
    assert all(lines), f"one hub got nothing: {[len(x) for x in lines]}"
    for line in lines[0] + lines[1]:
        assert re.search(rf"\b{re.escape(CLIENT_ADDRESS)}:\d+ - ", line), line
        assert "6.6.6.6" not in line


def test_metrics_are_not_served_through_the_proxy(stand: Stand) -> None:
    with stand.client() as client:
        assert client.get("/metrics").status_code == 403
    with httpx.Client(timeout=10) as direct:  # Prometheus scrapes each process directly
        assert direct.get(f"{stand.hubs[0].url}/metrics").status_code == 200


def test_the_live_stream_passes_through_unbuffered(stand: Stand) -> None:
    with stand.client() as client:
        token = client.post("/api/v1/auth/token",
                            json={"username": "ops", "password": PASSWORD}).json()["access_token"]
        arrivals: list[float] = []
        start = time.monotonic()
        with client.stream("GET", "/api/v1/stream",
                           headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith(": keepalive"):
                    arrivals.append(time.monotonic() - start)
                    if len(arrivals) == 4:
                        break
    # The hub writes a 15-byte keepalive every second. Buffered, nginx would hold them until
    # its buffer filled (minutes) or hand them over all at once; unbuffered, they arrive
    # one by one, about a second apart.
    assert arrivals[0] < 5, arrivals
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert all(g > 0.3 for g in gaps), arrivals


def alerts_batch(sites: range) -> dict[str, object]:
    """Landslide Siaga alerts, one per site: one new incident each."""
    now = int(time.time() * 1000)
    alerts = [{"id": i + 1, "node": f"proxy-n{i}", "site": f"proxy-site-{i}",
               "hazard": "landslide", "level": 3, "previous_level": 1, "detector": "landslide",
               "ts": now - 1000 + i, "explanation": "tanah bergerak", "explanation_en": "moving"}
              for i in sites]
    return {"v": 1, "gateway": GATEWAY, "batch": f"{GATEWAY}:{sites.start + 1}-{sites.stop}",
            "sent_at": now, "alerts": alerts}


class Listener(threading.Thread):
    """A dashboard's EventSource through the proxy: reconnects with Last-Event-ID."""

    def __init__(self, stand: Stand, token: str) -> None:
        super().__init__(daemon=True)
        self.stand, self.token = stand, token
        self.opened: list[tuple[int, int]] = []  # (event id, incident id)
        self.connections = 0
        self.stop = threading.Event()

    def run(self) -> None:
        last_id = ""
        with self.stand.client(timeout=httpx.Timeout(10, read=5)) as client:
            while not self.stop.is_set():
                headers = {"Authorization": f"Bearer {self.token}"}
                if last_id:
                    headers["Last-Event-ID"] = last_id
                try:
                    with client.stream("GET", "/api/v1/stream?probe=failover",
                                       headers=headers) as r:
                        self.connections += 1
                        for line in r.iter_lines():
                            if line.startswith("id:"):
                                last_id = line[3:].strip()
                            elif line.startswith("data:"):
                                event = json.loads(line[5:])
                                if event.get("type") == "incident.opened":
                                    self.opened.append((int(last_id), event["incident"]["id"]))
                            if self.stop.is_set():
                                return
                except httpx.HTTPError:
                    self.stop.wait(0.2)


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_stream_whose_hub_dies_resumes_through_the_proxy_missing_nothing(
        stand: Stand) -> None:
    with stand.client() as client:
        token = client.post("/api/v1/auth/token",
                            json={"username": "ops", "password": PASSWORD}).json()["access_token"]
        ingest = {"Authorization": f"Bearer {stand.gateway_token}"}
        listener = Listener(stand, token)
        listener.start()
        try:
            wait_for(lambda: listener.connections == 1, 10, "the stream")
            r = client.post("/api/v1/ingest", json=alerts_batch(range(0, 3)), headers=ingest)
            assert r.status_code == 200, r.text
            wait_for(lambda: len(listener.opened) == 3, 15, "3 incidents on the stream")
            serving = [h for h in stand.hubs if served_by(h, "stream?probe=failover")]
            assert len(serving) == 1
            victim = serving[0]
            victim.kill()
            # Opened while the client is cut off and reconnecting to the other hub.
            r = client.post("/api/v1/ingest", json=alerts_batch(range(3, 6)), headers=ingest)
            assert r.status_code == 200, r.text
            wait_for(lambda: len(listener.opened) == 6, 20, "6 incidents on the stream")
        finally:
            listener.stop.set()
            listener.join(10)
            for hub in stand.hubs:
                if hub.proc is None:
                    hub.start()
    assert listener.connections >= 2
    event_ids = [e for e, _ in listener.opened]
    assert event_ids == sorted(set(event_ids)), "an event twice or out of order"
    assert len({incident for _, incident in listener.opened}) == 6


def test_requests_keep_succeeding_when_a_hub_is_killed(stand: Stand) -> None:
    victim = stand.hubs[1]
    victim.kill()
    try:
        with stand.client() as client:
            codes = [client.get(f"/healthz?probe=after-kill-{i}").status_code for i in range(20)]
        assert codes == [200] * 20
        time.sleep(0.5)
        assert len(served_by(stand.hubs[0], "probe=after-kill-")) == 20
    finally:
        victim.start()


def test_the_http_uplink_sends_every_batch_over_one_tls_connection(
        stand: Stand, tmp_path: Path) -> None:
    """The uplink's TLS (its CA file, the host name checked) on its kept-alive connection."""
    buffer = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "buffer.sqlite3")))
    buffer.append([reading(i) for i in range(400)], [])
    up = HttpUplink(UplinkSettings(kind="http", gateway_id=GATEWAY, url=stand.url,
                                   token=stand.gateway_token, ca=str(stand.cert),
                                   batch_max_count=50, batch_ceiling_count=50,
                                   batch_max_age_s=0.05), buffer)
    up.start()
    try:
        wait_for(lambda: buffer.stats().depth == 0, 30, "the buffer drained")
    finally:
        up.stop()
        buffer.close()
    counters = up.counters()
    assert counters.batches_acked == 8 and counters.send_errors == 0
    assert counters.connections_opened == 1
