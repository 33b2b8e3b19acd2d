"""``deploy/demo.sh --scale``: the demo's hub as several processes on PostgreSQL behind nginx.

The same story as the embedded demo, deployed as docs/scale.md describes: a PostgreSQL
cluster of the demo's own (``state/postgres``, kept from run to run like the SQLite files),
``HUB_PROCESSES`` ``siaga-hub serve`` processes sharing it, and Debian's nginx with the config
``siaga-hub proxy-config nginx`` renders (run as a command: dev tooling does not import the
hub), over TLS with a self-signed certificate, on the demo's public port. Dev tooling:
product code never imports it.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siaga.simulators.demo_configs import write_toml
from siaga.simulators.proxy_servers import Nginx, self_signed_certificate
from siaga.simulators.servers import PostgreSQL, free_port

__all__ = ["HUB_PROCESSES", "ScaleHubs", "scale_hubs", "start_postgres", "start_proxy"]

HUB_PROCESSES = 2
DATABASE = "siaga"


def start_postgres(state: Path) -> tuple[PostgreSQL, str]:
    """The demo's PostgreSQL (created on the first run) and the URL of its ``siaga`` database."""
    import psycopg

    (state / "postgres").mkdir(exist_ok=True)
    server = PostgreSQL(workdir=state / "postgres").start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                        (DATABASE,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"'.encode())
    return server, server.url(DATABASE)


@dataclass(frozen=True, slots=True)
class ScaleHubs:
    """Each hub process's port and config file (the first one serves the CLI too)."""

    ports: tuple[int, ...]
    configs: tuple[Path, ...]


def scale_hubs(state: Path, hub: dict[str, Any], database_url: str, public_url: str) -> ScaleHubs:
    """``hub`` (the embedded demo's hub config) as ``HUB_PROCESSES`` processes on PostgreSQL.

    Each process gets its own MQTT client id in one shared-subscription group, so the broker
    spreads the gateways' batches over them; links in notifications point at the proxy.
    """
    ports = tuple(free_port() for _ in range(HUB_PROCESSES))
    configs = []
    for port in ports:
        cfg = copy.deepcopy(hub)
        cfg["database"] = {"url": database_url}
        cfg["server"] = {**cfg["server"], "port": port}
        if "mqtt" in cfg:
            cfg["mqtt"] = {**cfg["mqtt"], "client_id": f"siaga-hub-{port}",
                           "shared_group": "siaga-hubs"}
        if "notify" in cfg:
            cfg["notify"] = {**cfg["notify"], "base_url": public_url}
        path = state / f"hub-{port}.toml"
        write_toml(path, cfg)
        configs.append(path)
    return ScaleHubs(ports, tuple(configs))


def start_proxy(state: Path, hubs: ScaleHubs, port: int) -> tuple[Nginx, Path]:
    """nginx on ``port`` (TLS) in front of the hubs, its site rendered by the operator's own
    command (``siaga-hub proxy-config nginx``); the proxy and the certificate to trust."""
    tls = state / "tls"
    tls.mkdir(exist_ok=True)
    cert, key = tls / "proxy.crt", tls / "proxy.key"
    if not (cert.exists() and key.exists()):
        cert, key = self_signed_certificate(tls)
    rendered = subprocess.run(
        [str(Path(sys.executable).parent / "siaga-hub"), "--config", str(hubs.configs[0]),
         "proxy-config", "nginx", "--hubs", ",".join(f"127.0.0.1:{p}" for p in hubs.ports),
         "--server-name", "localhost", "--cert", str(cert), "--key", str(key),
         "--https-port", str(port), "--http-port", "0", "--listen", "127.0.0.1"],
        capture_output=True, text=True)
    if rendered.returncode != 0 or rendered.stderr:
        raise RuntimeError(f"siaga-hub proxy-config: {rendered.stderr.strip()}")
    proxy = Nginx(rendered.stdout, workdir=state / "nginx", port=port)
    return proxy.start(), cert
