"""The Siaga demo: a hub, two gateways and the simulated sensor nodes of Kota Batu, on one machine.

Run it with ``deploy/demo.sh`` (which sets up the virtual environment first). It plays the
``demo`` scenario of ``siaga-sim`` time-compressed: a stuck sensor, an afternoon storm that
drives the Bumiaji slope to a landslide warning, a fire in Pasar Besar, and an overcrowded
Alun-alun. Each node writes serial frames to a pseudo-terminal; each gateway reads its nodes'
ports through the same code path as ``/dev/ttyUSB0``, detects, buffers and forwards to the hub,
which opens the incidents and routes them to BPBD, PMK, Satpol PP and Diskominfo.

The terminal shows one line per incident event; the dashboard URL and demo logins are printed
at the start. Notifications go as email to each demo login through a local SMTP server that
keeps them in ``var/demo/notifications.mbox`` (the path is printed too). Ctrl-C (or SIGTERM)
stops every process it started and exits 0. Databases and
logs stay in ``var/demo/`` from run to run (a second run continues the incidents, telemetry and
logins of the first); ``--fresh`` deletes them first.

``--with-services`` runs the same chain on real Mosquitto (the gateways' MQTT uplink, with
per-gateway credentials and ACLs from deploy/mosquitto/) and InfluxDB (telemetry), installing
the Debian packages first when run as root.

``--scale`` deploys the hub as docs/scale.md describes: PostgreSQL, two hub processes, and
nginx over TLS (a self-signed certificate in ``var/demo/tls/``) on the demo's port; the
gateways, the stream and the dashboard all go through the proxy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from siaga.firmware_bridge.vocabulary import Level, hazard_name
from siaga.simulators.demo_configs import gateway_config, hub_config, write_toml
from siaga.simulators.processes import Children, run_cli, wait_healthy
from siaga.simulators.smtp_inbox import SmtpInbox

ROOT = Path(__file__).resolve().parent.parent

REGISTRY = ROOT / "deploy" / "demo" / "registry.toml"
BIN = Path(sys.executable).parent
WIB = ZoneInfo("Asia/Jakarta")

# (username, agency, role, display name, password): the logins the demo prints.
DEMO_USERS = (
    ("admin", "DISKOMINFO", "admin", "Admin Diskominfo", "siaga-admin-demo"),
    ("bpbd", "BPBD", "responder", "Petugas Pusdalops BPBD", "siaga-bpbd-demo"),
    ("pmk", "PMK", "responder", "Petugas Damkar", "siaga-pmk-demo"),
    ("satpol", "SATPOLPP", "responder", "Petugas Satpol PP", "siaga-satpol-demo"),
)



def say(text: str) -> None:
    print(text, flush=True)


def fail(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def ensure_services(flag: str, binaries: tuple[tuple[str, str], ...]) -> None:
    """Install the Debian packages of the ``(binary, package)`` pairs that are missing."""
    missing = [pkg for binary, pkg in binaries
               if not (shutil.which(binary) or Path(f"/usr/sbin/{binary}").exists()
                       or list(Path("/usr/lib/postgresql").glob(f"*/bin/{binary}")))]
    if not missing:
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"{flag} needs {' '.join(missing)}: run as root, or "
                           f"'sudo apt-get install {' '.join(missing)}' first")
    say(f"installing {' '.join(missing)} with apt-get ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def event_line(event: dict[str, Any]) -> str:
    when = datetime.fromisoformat(event.get("ts", "").replace("Z", "+00:00")).astimezone(WIB) \
        if event.get("ts") else datetime.now(WIB)
    report = event.get("report")
    if report is not None:  # a citizen report waiting for (or decided by) a duty officer
        kind = str(event.get("type", "")).replace(".", " ").upper()
        return (f"{when:%H:%M:%S} WIB  r{report.get('id', '?'):<3} {kind:<15} "
                f"{hazard_name(str(report.get('hazard', '?')))} @ "
                f"{report.get('place', {}).get('name', '?')} -> "
                f"{' + '.join(report.get('agencies', []))}  | {report.get('text', '')}")
    inc = event.get("incident") or {}
    kind = str(event.get("type", "")).removeprefix("incident.").upper()
    level = int(inc.get("level", 1))
    agencies = " + ".join(inc.get("agencies", []))
    text = event.get("text") or ""
    return (f"{when:%H:%M:%S} WIB  #{inc.get('id', '?'):<3} {kind:<12} "
            f"{hazard_name(str(inc.get('hazard', '?')))} {Level(level).label_id} @ "
            f"{inc.get('place_label') or inc.get('site', '?')} -> {agencies}"
            + (f"  | {text}" if text else ""))


def follow_stream(url: str, token: str, stop: threading.Event, counts: dict[str, int],
                  verify: ssl.SSLContext | bool = True) -> None:
    """Print one line per incident event; reconnect (with Last-Event-ID) until stopped."""
    last_id: str | None = None
    while not stop.is_set():
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        try:
            with httpx.stream("GET", f"{url}/api/v1/stream", headers=headers, verify=verify,
                              timeout=httpx.Timeout(5, read=30)) as r:
                for line in r.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("id:"):
                        last_id = line[3:].strip()
                    elif line.startswith("data:"):
                        event = json.loads(line[5:])
                        counts[event.get("type", "?")] = counts.get(event.get("type", "?"), 0) + 1
                        say(event_line(event))
        except (httpx.HTTPError, json.JSONDecodeError):
            stop.wait(1)


def add_missing_users(hub_cli: list[str], database: Path | None) -> None:
    """The demo logins the hub's database does not hold yet (all of them on a fresh state);
    ``database`` is the SQLite file, None for a server."""
    known = set()
    if database is None or database.exists():
        listing = run_cli([*hub_cli, "user", "list"], cwd=ROOT)
        known = {line.split("\t", 1)[0] for line in listing.splitlines()}
    for username, agency, role, name, password in DEMO_USERS:
        if username not in known:
            run_cli([*hub_cli, "user", "add", username, "--agency", agency,
                     "--role", role, "--name", name, "--password-stdin"],
                    stdin=password + "\n", cwd=ROOT)


def set_demo_contacts(url: str, admin_token: str, verify: ssl.SSLContext | bool) -> None:
    """Each demo login is its agency's duty officer with a mailbox in the local inbox."""
    for username, *_ in DEMO_USERS:
        r = httpx.put(f"{url}/api/v1/staff/{username}/contact", timeout=10, verify=verify,
                      headers={"Authorization": f"Bearer {admin_token}"},
                      json={"position": "duty_officer", "email": f"{username}@demo.siaga.local"})
        r.raise_for_status()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="deploy/demo.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--speed", type=float, default=60.0,
                   help="simulated seconds per wall second (default 60: the 6 h scenario in 6 min)")
    p.add_argument("--port", type=int, default=8080, help="the hub's port (default 8080)")
    p.add_argument("--scenario", default="demo", help="siaga-sim scenario (default: demo)")
    p.add_argument("--with-services", action="store_true",
                   help="real Mosquitto (MQTT uplink) and InfluxDB (telemetry)")
    p.add_argument("--scale", action="store_true",
                   help="PostgreSQL and two hub processes behind nginx with TLS (docs/scale.md)")
    p.add_argument("--state-dir", type=Path, default=ROOT / "var" / "demo",
                   help="where the demo keeps its databases and logs, run after run "
                        "(default: var/demo)")
    p.add_argument("--fresh", action="store_true",
                   help="delete the state dir first: start with no incidents, telemetry or logs")
    p.add_argument("--duration", type=float, default=None,
                   help="stop by itself after this many seconds (default: until Ctrl-C)")
    args = p.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    state: Path = args.state_dir.resolve()
    if args.fresh:
        shutil.rmtree(state, ignore_errors=True)
    (state / "logs").mkdir(parents=True, exist_ok=True)
    children = Children(state / "logs", cwd=ROOT)
    servers: list[Any] = []
    counts: dict[str, int] = {}
    try:
        influx_url = None
        mqtt: tuple[int, str] | None = None
        broker = None
        if args.with_services:
            from siaga.simulators.servers import InfluxDB, Mosquitto

            ensure_services("--with-services", (("mosquitto", "mosquitto"),
                                                ("influxd", "influxdb")))
            (state / "influxdb").mkdir(exist_ok=True)
            influx = InfluxDB(workdir=state / "influxdb").start()
            servers.append(influx)
            influx_url = influx.url
            say(f"InfluxDB       {influx.url} (database 'siaga')")
        registry = tomllib.loads(REGISTRY.read_text())
        gateways: dict[str, list[str]] = {}
        for node_id, node in registry["nodes"].items():
            gateways.setdefault(node["gateway"], []).append(node_id)

        hub_toml = state / "hub.toml"
        hub_password = "demo-hub-" + os.urandom(6).hex()
        if args.with_services:
            (state / "mosquitto").mkdir(exist_ok=True)
            passwd = state / "mosquitto" / "passwd"
            passwd.touch()
            broker = Mosquitto(workdir=state / "mosquitto", allow_anonymous=False, extra_config=(
                f"password_file {passwd}\n"
                f"acl_file {ROOT / 'deploy' / 'mosquitto' / 'hub.acl'}\n"))
            mqtt = (broker.port, hub_password)
        mbox = state / "notifications.mbox"
        inbox = SmtpInbox(mbox).start()
        servers.append(inbox)
        hub_cfg = hub_config(state, args.port, REGISTRY, influx_url, mqtt, smtp_port=inbox.port)
        scale = None
        if args.scale:
            from siaga.simulators.demo_scale import scale_hubs, start_postgres, start_proxy

            ensure_services("--scale", (("initdb", "postgresql"), ("nginx", "nginx"),
                                        ("openssl", "openssl")))
            postgres, database_url = start_postgres(state)
            servers.append(postgres)
            say(f"PostgreSQL     127.0.0.1:{postgres.port} (database 'siaga', data in "
                f"{postgres.workdir})")
            url = f"https://127.0.0.1:{args.port}"
            scale = scale_hubs(state, hub_cfg, database_url, url)
            hub_toml = scale.configs[0]
        else:
            url = f"http://127.0.0.1:{args.port}"
            write_toml(hub_toml, hub_cfg)
        hub_cli = [str(BIN / "siaga-hub"), "--config", str(hub_toml)]
        add_missing_users(hub_cli, None if scale else state / "hub.sqlite3")
        tokens = {}
        for gw in gateways:
            # A new token each run (gateway add replaces the old one): the demo writes the
            # gateways' configs anew anyway, their ptys change from run to run.
            extra = ["--mosquitto-passwd", str(state / "mosquitto" / "passwd")] if broker else []
            tokens[gw] = run_cli([*hub_cli, "gateway", "add", gw, *extra], cwd=ROOT).strip()
        if broker:
            from siaga.api.broker_credentials import set_password_entry

            set_password_entry(state / "mosquitto" / "passwd", "siaga-hub", hub_password)
            broker.start()
            servers.append(broker)
            say(f"Mosquitto      127.0.0.1:{broker.port} (per-gateway logins, ACL)")

        verify: ssl.SSLContext | bool = True
        cert = None
        if scale:
            for port, config in zip(scale.ports, scale.configs, strict=True):
                children.start(f"hub-{port}", [str(BIN / "siaga-hub"), "--config", str(config),
                                               "serve"])
            for port in scale.ports:
                wait_healthy(f"http://127.0.0.1:{port}", children)
            proxy, cert = start_proxy(state, scale, args.port)
            servers.append(proxy)
            verify = ssl.create_default_context(cafile=str(cert))
            say(f"nginx          {url} (TLS, certificate {cert}) -> hub processes on "
                + ", ".join(f"127.0.0.1:{port}" for port in scale.ports))
        else:
            children.start("hub", [*hub_cli, "serve"])
            wait_healthy(url, children)
        admin = httpx.post(f"{url}/api/v1/auth/token", json={
            "username": DEMO_USERS[0][0], "password": DEMO_USERS[0][4]}, timeout=10,
            verify=verify).json()["access_token"]
        set_demo_contacts(url, admin, verify)

        sim = children.start("sim", [str(BIN / "siaga-sim"), "serial", "--scenario",
                                     args.scenario, "--speed", str(args.speed), "--json"],
                             stdout=subprocess.PIPE)
        assert sim.stdout is not None
        first = sim.stdout.readline()
        if not first:
            raise RuntimeError(children.check() or "siaga-sim printed no pty paths")
        paths: dict[str, str] = json.loads(first)["nodes"]

        for gw, nodes in gateways.items():
            ports = [paths[n] for n in nodes if n in paths]
            if broker:
                uplink = {"kind": "mqtt", "host": "127.0.0.1", "port": broker.port,
                          "username": gw, "password": tokens[gw]}
            else:
                uplink = {"kind": "http", "url": url, "token": tokens[gw]}
                if cert is not None:
                    uplink["ca"] = str(cert)
            gw_toml = state / f"{gw}.toml"
            write_toml(gw_toml, gateway_config(gw, state, REGISTRY, ports, uplink, args.speed))
            children.start(gw, [str(BIN / "siaga-gateway"), "run", "--config", str(gw_toml)])

        say("")
        say(f"Siaga demo running: {args.scenario} scenario at {args.speed:g}x "
            f"({len(paths)} nodes, {len(gateways)} gateways)")
        say(f"  Dashboard  {url}/dashboard/")
        if cert is not None:
            say(f"             (a self-signed certificate: the browser asks once; {cert})")
        say(f"  Lapor      {url}/lapor/   (citizens' report page, no login: reports wait in "
            "the dashboard's 'Laporan warga')")
        for username, agency, _role, _name, password in DEMO_USERS:
            say(f"  Login      {username:<7} / {password:<18} ({agency})")
        say(f"  Logs       {children.logs}/")
        say(f"  Mail       every notification, as email to the logins: {mbox}")
        say(f"             (open with: mutt -f {mbox}, or any mail reader)")
        say("  Ctrl-C stops everything.")
        say("")
        threading.Thread(target=follow_stream, args=(url, admin, stop, counts, verify),
                         daemon=True, name="stream").start()
        deadline = time.monotonic() + args.duration if args.duration else None
        while not stop.wait(0.5):
            died = children.check()
            if died:
                raise RuntimeError(died)
            if deadline and time.monotonic() > deadline:
                break
    except RuntimeError as exc:
        fail(str(exc))
        stop.set()
        children.stop()
        for server in reversed(servers):
            server.stop()
        return 1
    stop.set()
    say("\nstopping ...")
    children.stop()
    for server in reversed(servers):
        server.stop()
    summary = ", ".join(f"{k.removeprefix('incident.')} {v}" for k, v in sorted(counts.items()))
    say(f"stopped. incident events seen: {summary or 'none'}; state kept in {state} "
        "(deploy/demo.sh --fresh starts anew)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
