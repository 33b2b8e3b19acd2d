"""The Siaga demo: a hub, two gateways and the simulated sensor nodes of Kota Batu, on one machine.

Run it with ``deploy/demo.sh`` (which sets up the virtual environment first). It plays the
``demo`` scenario of ``siaga-sim`` time-compressed: a stuck sensor, an afternoon storm that
drives the Bumiaji slope to a landslide warning, a fire in Pasar Besar, and an overcrowded
Alun-alun. Each node writes serial frames to a pseudo-terminal; each gateway reads its nodes'
ports through the same code path as ``/dev/ttyUSB0``, detects, buffers and forwards to the hub,
which opens the incidents and routes them to BPBD, PMK, Satpol PP and Diskominfo.

The terminal shows one line per incident event; the dashboard URL and demo logins are printed
at the start. Ctrl-C (or SIGTERM) stops every process it started and exits 0.

``--with-services`` runs the same chain on real Mosquitto (the gateways' MQTT uplink, with
per-gateway credentials and ACLs from deploy/mosquitto/) and InfluxDB (telemetry), installing
the Debian packages first when run as root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/servers.py starts real Mosquitto and influxd for us too

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

LEVELS = {1: "Normal", 2: "Waspada", 3: "Siaga", 4: "Awas"}
HAZARDS = {"landslide": "Tanah longsor", "flood": "Banjir", "fire": "Kebakaran",
           "crowd": "Kerumunan", "sensor_fault": "Gangguan sensor"}


def say(text: str) -> None:
    print(text, flush=True)


def fail(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


@dataclass
class Children:
    """Every process the demo starts, stopped in reverse order (its own process group each)."""

    logs: Path
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], stdout: int | IO[bytes] | None = None,
              stdin: int | None = None) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, stdout=stdout if stdout is not None else log, stderr=log,
                                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                start_new_session=True, cwd=ROOT)
        self.procs.append((name, proc))
        return proc

    def check(self) -> str | None:
        """What a child that died on its own said last, if any died."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                log = self.logs / f"{name}.log"
                tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:])
                return f"{name} exited with {proc.returncode}; the end of {log}:\n{tail}"
        return None

    def stop(self, grace_s: float = 15) -> dict[str, int]:
        """SIGTERM to all, SIGKILL to what is left after ``grace_s``; the exit codes by name."""
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        codes = {}
        for name, proc in reversed(self.procs):
            try:
                codes[name] = proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                codes[name] = proc.wait()
        return codes


def run_cli(argv: list[str], stdin: str | None = None) -> str:
    out = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed: {out.stderr.strip()}")
    return out.stdout


def ensure_services() -> None:
    missing = [pkg for binary, pkg in (("mosquitto", "mosquitto"), ("influxd", "influxdb"))
               if not (shutil.which(binary) or Path(f"/usr/sbin/{binary}").exists())]
    if not missing:
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"--with-services needs {' '.join(missing)}: run as root, or "
                           f"'sudo apt-get install {' '.join(missing)}' first")
    say(f"installing {' '.join(missing)} with apt-get ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def hub_config(state: Path, port: int, influx_url: str | None, mqtt: tuple[int, str] | None,
               ) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port, "log_level": "warning",
                   "shutdown_timeout_s": 2},
        "database": {"path": str(state / "hub.sqlite3")},
        "registry": {"file": str(REGISTRY)},
        # Offline by default: the map draws the registry's coordinates on a plain base.
        "dashboard": {"timezone": "Asia/Jakarta", "tile_url": ""},
        "auth": {"see_all_agencies": ["DISKOMINFO"]},
        "incidents": {"gateway_silence_s": 120},
    }
    if influx_url:
        cfg["telemetry"] = {"kind": "influxdb", "url": influx_url, "database": "siaga"}
    else:
        cfg["telemetry"] = {"kind": "sqlite", "path": str(state / "telemetry.sqlite3")}
    if mqtt:
        mqtt_port, hub_password = mqtt
        cfg["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": mqtt_port,
                       "username": "siaga-hub", "password": hub_password}
    return cfg


def gateway_config(gw: str, state: Path, ports: list[str], uplink: dict[str, Any],
                   speed: float) -> dict[str, Any]:
    # The scenario runs `speed` times faster than the gateway's clock, so a slope that creeps
    # 1 mm/h in the story moves `speed` mm per wall-clock hour. The movement rungs of the
    # landslide detector are rates over a window: scale both so the demo slope is judged as
    # the real one would be (the rain and soil rules need no scaling to reach their levels).
    landslide = {
        "rate_window_s": 3600 / speed, "clear_after_s": 1800 / speed,
        "ext_rate_mm_h": {"waspada": 1.0 * speed, "siaga": 2.0 * speed, "awas": 4.0 * speed},
        "tilt_rate_deg_h": {"waspada": 0.1 * speed, "siaga": 0.5 * speed, "awas": 1.0 * speed},
    }
    return {
        "gateway": {"id": gw, "state_dir": str(state / gw), "registry": str(REGISTRY),
                    "log_level": "warning"},
        "serial": {"ports": ports},
        "uplink": {"batch_max_age_s": 0.5, "ack_timeout_s": 10, "backoff_max_s": 5, **uplink},
        "heartbeat": {"interval_s": 10},
        "analytics.landslide": landslide,
    }


def write_toml(path: Path, data: dict[str, Any]) -> None:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(str(v))  # a TOML basic string is JSON's string syntax

    lines = []
    for table, keys in data.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {value(v)}" for k, v in keys.items()]
        lines.append("")
    path.write_text("\n".join(lines))


def wait_healthy(url: str, children: Children, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        died = children.check()
        if died:
            raise RuntimeError(died)
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the hub did not answer {url}/healthz within {timeout:.0f}s")


def event_line(event: dict[str, Any]) -> str:
    inc = event.get("incident") or {}
    when = datetime.fromisoformat(event.get("ts", "").replace("Z", "+00:00")).astimezone(WIB) \
        if event.get("ts") else datetime.now(WIB)
    kind = str(event.get("type", "")).removeprefix("incident.").upper()
    level = inc.get("level", 1)
    hazard = str(inc.get("hazard", "?"))
    agencies = " + ".join(inc.get("agencies", []))
    text = event.get("text") or ""
    return (f"{when:%H:%M:%S} WIB  #{inc.get('id', '?'):<3} {kind:<12} "
            f"{HAZARDS.get(hazard, hazard)} "
            f"{LEVELS.get(level, level)} @ {inc.get('site', '?')} -> {agencies}"
            + (f"  | {text}" if text else ""))


def follow_stream(url: str, token: str, stop: threading.Event, counts: dict[str, int]) -> None:
    """Print one line per incident event; reconnect (with Last-Event-ID) until stopped."""
    last_id: str | None = None
    while not stop.is_set():
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        try:
            with httpx.stream("GET", f"{url}/api/v1/stream", headers=headers,
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="deploy/demo.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--speed", type=float, default=60.0,
                   help="simulated seconds per wall second (default 60: the 6 h scenario in 6 min)")
    p.add_argument("--port", type=int, default=8080, help="the hub's port (default 8080)")
    p.add_argument("--scenario", default="demo", help="siaga-sim scenario (default: demo)")
    p.add_argument("--with-services", action="store_true",
                   help="real Mosquitto (MQTT uplink) and InfluxDB (telemetry)")
    p.add_argument("--state-dir", type=Path, default=ROOT / "var" / "demo",
                   help="where the demo keeps its databases and logs (wiped at start)")
    p.add_argument("--duration", type=float, default=None,
                   help="stop by itself after this many seconds (default: until Ctrl-C)")
    args = p.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    state: Path = args.state_dir.resolve()
    shutil.rmtree(state, ignore_errors=True)
    (state / "logs").mkdir(parents=True)
    children = Children(state / "logs")
    servers: list[Any] = []
    counts: dict[str, int] = {}
    try:
        influx_url = None
        mqtt: tuple[int, str] | None = None
        broker = None
        if args.with_services:
            from tests.servers import InfluxDB, Mosquitto

            ensure_services()
            (state / "influxdb").mkdir()
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
            from tests.servers import Mosquitto

            (state / "mosquitto").mkdir()
            passwd = state / "mosquitto" / "passwd"
            passwd.touch()
            broker = Mosquitto(workdir=state / "mosquitto", allow_anonymous=False, extra_config=(
                f"password_file {passwd}\n"
                f"acl_file {ROOT / 'deploy' / 'mosquitto' / 'hub.acl'}\n"))
            mqtt = (broker.port, hub_password)
        write_toml(hub_toml, hub_config(state, args.port, influx_url, mqtt))
        hub_cli = [str(BIN / "siaga-hub"), "--config", str(hub_toml)]
        for username, agency, role, name, password in DEMO_USERS:
            run_cli([*hub_cli, "user", "add", "--username", username, "--agency", agency,
                     "--role", role, "--name", name, "--password-stdin"], stdin=password + "\n")
        tokens = {}
        for gw in gateways:
            extra = ["--mosquitto-passwd", str(state / "mosquitto" / "passwd")] if broker else []
            tokens[gw] = run_cli([*hub_cli, "gateway", "add", gw, *extra]).strip()
        if broker:
            from siaga.api.broker_credentials import set_password_entry

            set_password_entry(state / "mosquitto" / "passwd", "siaga-hub", hub_password)
            broker.start()
            servers.append(broker)
            say(f"Mosquitto      127.0.0.1:{broker.port} (per-gateway logins, ACL)")

        hub = children.start("hub", [*hub_cli, "serve"])
        url = f"http://127.0.0.1:{args.port}"
        wait_healthy(url, children)
        del hub

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
            gw_toml = state / f"{gw}.toml"
            write_toml(gw_toml, gateway_config(gw, state, ports, uplink, args.speed))
            children.start(gw, [str(BIN / "siaga-gateway"), "run", "--config", str(gw_toml)])

        say("")
        say(f"Siaga demo running: {args.scenario} scenario at {args.speed:g}x "
            f"({len(paths)} nodes, {len(gateways)} gateways)")
        say(f"  Dashboard  {url}/dashboard/")
        for username, agency, _role, _name, password in DEMO_USERS:
            say(f"  Login      {username:<7} / {password:<18} ({agency})")
        say(f"  Logs       {children.logs}/")
        say("  Ctrl-C stops everything.")
        say("")
        token = httpx.post(f"{url}/api/v1/auth/token", json={
            "username": DEMO_USERS[0][0], "password": DEMO_USERS[0][4]}, timeout=10,
        ).json()["access_token"]
        threading.Thread(target=follow_stream, args=(url, token, stop, counts), daemon=True,
                         name="stream").start()
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
    say(f"stopped. incident events seen: {summary or 'none'}; state kept in {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
