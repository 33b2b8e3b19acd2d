"""``siaga-gateway``: run the gateway, check a config file, show the running gateway's status.

Exit codes: 0 after SIGINT/SIGTERM or success, 78 (EX_CONFIG) for a bad config
(the message names the key), 1 for any other failure to start, 141 when stdout closed
early (``status | head``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from siaga.gateway import config_reference, requeue_command
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.collector import tune_collector
from siaga.gateway.config import (
    GatewaySettings,
    default_state_dir,
    load_settings,
    parse_host_port,
    read_toml,
    settings_from_table,
)
from siaga.gateway.control import send_command
from siaga.gateway.downlink import COMMANDS
from siaga.gateway.errors import ConfigError, GatewayError
from siaga.gateway.malloc_arenas import limit_malloc_arenas
from siaga.gateway.state_dir_lock import StateDirLock
from siaga.gateway.status_file import Liveness, liveness, read_status

log = logging.getLogger("gateway")

EX_CONFIG = 78


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siaga-gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the gateway until SIGINT/SIGTERM")
    add_settings_flags(run)
    check = sub.add_parser("check-config", help="validate a config file (with env and flags)")
    check.add_argument("file", nargs="?", type=Path, help="the TOML file (or use --config)")
    add_settings_flags(check)
    sub.add_parser("config-reference",
                   help="print every config key (docs/gateway-configuration.md)")
    status = sub.add_parser("status", help="print the running gateway's counters and nodes")
    status.add_argument("--config", type=Path, help="config file (for gateway.state_dir)")
    status.add_argument("--state-dir", type=Path, help="the gateway's state dir")
    status.add_argument("--json", action="store_true", help="print the raw status JSON")
    command = sub.add_parser("command", help="send a command to a node via the running gateway")
    command.add_argument("node")
    command.add_argument("cmd", choices=COMMANDS)
    command.add_argument("--value", type=float, help="the command's value (interval: seconds)")
    command.add_argument("--config", type=Path, help="config file (for gateway.state_dir)")
    command.add_argument("--state-dir", type=Path, help="the gateway's state dir")
    command.add_argument("--timeout", type=float, default=60.0, help="seconds to wait")
    requeue_command.add_parser(sub)
    return parser


def add_settings_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML config file")
    p.add_argument("--serial", action="append", metavar="PATH",
                   help="serial port path or glob (repeatable) -> serial.ports")
    p.add_argument("--baud", type=int, help="-> serial.baud")
    p.add_argument("--mqtt", metavar="HOST:PORT", help="device broker -> mqtt.host, mqtt.port")
    p.add_argument("--stdout", action="store_true", default=None,
                   help="print JSON lines -> output.stdout")
    p.add_argument("--gateway-id", help="-> gateway.id")
    p.add_argument("--state-dir", help="-> gateway.state_dir")
    p.add_argument("--log-level", help="debug|info|warning|error -> gateway.log_level")
    p.add_argument("--lorawan", metavar="HOST:PORT",
                   help="the LoRaWAN network server's broker -> lorawan.host, lorawan.port")
    p.add_argument("--lorawan-flavour", choices=("chirpstack", "tts"),
                   help="-> lorawan.flavour")
    p.add_argument("--modbus-port", action="append", metavar="BUS=PATH",
                   help="serial port of a [[modbus.bus]] by name (repeatable) "
                        "-> modbus.bus_ports.BUS")


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    over: dict[str, Any] = {}
    if args.serial:
        over["serial.ports"] = list(args.serial)
    if args.baud is not None:
        over["serial.baud"] = args.baud
    if args.mqtt:
        host, port = parse_host_port(args.mqtt)
        over["mqtt.host"] = host
        over["mqtt.port"] = port
    if args.stdout:
        over["output.stdout"] = True
    if args.gateway_id:
        over["gateway.id"] = args.gateway_id
    if args.state_dir:
        over["gateway.state_dir"] = args.state_dir
    if args.log_level:
        over["gateway.log_level"] = args.log_level
    if args.lorawan:
        host, port = parse_host_port(args.lorawan, "--lorawan")
        over["lorawan.host"] = host
        over["lorawan.port"] = port
    if args.lorawan_flavour:
        over["lorawan.flavour"] = args.lorawan_flavour
    for spec in args.modbus_port or ():
        bus, sep, port = spec.partition("=")
        if not sep or not bus or not port:
            raise ConfigError("--modbus-port", f"{spec!r}: want BUS=PATH")
        over[f"modbus.bus_ports.{bus}"] = port
    return over


def settings_from_args(args: argparse.Namespace, config: Path | None) -> GatewaySettings:
    return load_settings(config, overrides=flag_overrides(args))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pymodbus logs every unanswered request; the Modbus source counts them per device
    # (status file, modbus_* error lines) and logs each bus outage once.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        if args.command == "run":
            return run(settings_from_args(args, args.config))
        if args.command == "check-config":
            return check_config(args)
        if args.command == "config-reference":
            sys.stdout.write(config_reference.render())
            return 0
        if args.command == "command":
            return send(args)
        if args.command == "requeue-rejected":
            return requeue_command.requeue(buffer_settings_of(args), state_dir_of(args),
                                           args.reason, args.dry_run, args.force)
        return show_status(args)
    except ConfigError as e:
        print(f"siaga-gateway: bad config: {e}", file=sys.stderr)
        return EX_CONFIG
    except GatewayError as e:
        print(f"siaga-gateway: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (status | head): stop quietly, as a Unix filter does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # fd 1 even if sys.stdout is closed
        return 141


def run(settings: GatewaySettings) -> int:
    from siaga.gateway.runtime import GatewayRuntime  # pulls paho and pyserial only when running

    limit_malloc_arenas()  # before any thread starts
    logging.getLogger().setLevel(settings.log_level.upper())
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Before the buffer opens, for the process's life: one gateway per state dir, and
    # requeue-rejected refuses while it is held (gateway/state_dir_lock.py).
    with StateDirLock(settings.state_dir, "cannot start",
                      Path(settings.buffer.path) if settings.buffer is not None else None):
        runtime = GatewayRuntime(settings, sys.stdout.buffer)
        tune_collector()  # what start-up made lives as long as the process
        runtime.start()
        try:
            while not stop.wait(3600):
                pass
        finally:
            runtime.stop()
    return 0


def check_config(args: argparse.Namespace) -> int:
    path = args.file or args.config
    if path is None:
        raise ConfigError("check-config", "no config file given (check-config FILE or --config)")
    settings = settings_from_args(args, path)
    print(f"{path or '(no file)'}: ok")
    print(f"  gateway.id = {settings.gateway_id}")
    print(f"  gateway.state_dir = {settings.state_dir}")
    print(f"  serial.ports = {list(settings.serial.ports)} at {settings.serial.baud} baud")
    mqtt = settings.mqtt
    print(f"  mqtt = {f'{mqtt.host}:{mqtt.port}' if mqtt.host else 'none'}")
    print(f"  analytics.detectors = {list(settings.analytics.detectors)}")
    print(f"  buffer = {settings.buffer.path if settings.buffer else 'none'}")
    for sbus in settings.sdi12.buses:
        print(f"  sdi12 bus {sbus.name} ({sbus.port}): "
              + ", ".join(f"{x.node}=address {x.address} {list(x.channels)}"
                          for x in sbus.sensors))
    lw = settings.lorawan
    if lw.host is not None:
        print(f"  lorawan = {lw.flavour} {lw.host}:{lw.port}, profiles "
              f"{sorted(lw.profiles)}, default {lw.default_profile}")
    for bus in settings.modbus.buses:
        where = bus.port or f"{bus.host}:{bus.tcp_port}"
        print(f"  modbus bus {bus.name} ({bus.kind} {where}): "
              + ", ".join(f"{d.node}=unit {d.unit} {d.register_map.name}" for d in bus.devices))
    up = settings.uplink
    print(f"  uplink = {f'{up.kind} {up.host or up.url}' if up else 'none'}")
    return 0


def state_dir_of(args: argparse.Namespace) -> Path:
    if args.state_dir is not None:
        return Path(args.state_dir)
    if args.config is not None:
        return paths_settings(args.config).state_dir
    return default_state_dir()


def buffer_settings_of(args: argparse.Namespace) -> BufferSettings:
    """The config's buffer settings (its bounds too) as they are (the config joined the
    path to its state dir already: joined again, a relative state dir doubled), else the
    defaults in the state dir."""
    if args.config is not None:
        settings = paths_settings(args.config)
        if settings.buffer is not None:
            return settings.buffer
        return BufferSettings().resolved(settings.state_dir)
    return BufferSettings().resolved(state_dir_of(args))


def paths_settings(config: Path) -> GatewaySettings:
    """A config file's settings read for its paths only (no source needed)."""
    raw = read_toml(config)
    raw.setdefault("serial", {}).setdefault("ports", ["-"])  # only the paths matter
    return settings_from_table(raw, config)


def send(args: argparse.Namespace) -> int:
    path = state_dir_of(args) / "control.sock"
    try:
        result = send_command(path, args.node, args.cmd, args.value, args.timeout)
    except OSError as e:
        print(f"siaga-gateway: no running gateway at {path}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0 if result.get("status") == "acked" else 1


def show_status(args: argparse.Namespace) -> int:
    path = state_dir_of(args) / "status.json"
    try:
        status = read_status(path)
    except FileNotFoundError:
        print(f"siaga-gateway: no status file at {path} (is the gateway running?)",
              file=sys.stderr)
        return 1
    alive = liveness(status, time.time())
    if args.json:
        print(json.dumps({**status, "state": alive.state, "state_why": alive.why},
                         indent=1, sort_keys=True))
    else:
        print(format_status(status, alive))
    # Written here, inside main's BrokenPipeError guard, not at interpreter exit.
    sys.stdout.flush()
    return STATUS_EXIT[alive.state]


# LSB init-script status codes: 0 running, 1 dead but its pid file is left, 3 not running.
STATUS_EXIT = {"running": 0, "stale": 1, "not running": 3}


def format_status(s: dict[str, Any], alive: Liveness | None = None) -> str:
    age = time.time() - float(s.get("updated_at", 0))
    if alive is not None and alive.state != "running":
        head = f"gateway {s.get('gateway')} {alive.state.upper()}: {alive.why}; last known:"
        lines = [head, f"  pid {s.get('pid')} was up {s.get('uptime_s')} s, "
                       f"queue {s.get('queue_depth')}"]
    else:
        lines = [
            f"gateway {s.get('gateway')} pid {s.get('pid')} up {s.get('uptime_s')} s "
            f"(status written {age:.0f} s ago), queue {s.get('queue_depth')}",
        ]
    b = s.get("buffer")
    if b:
        lines.append(f"buffer: depth {b.get('depth')} (alerts {b.get('alerts')}), "
                     f"{b.get('bytes')} bytes ({b.get('disk_bytes')} on disk), "
                     f"dropped_readings={b.get('dropped_readings')}")
    u = s.get("uplink")
    if u:
        lines.append(f"uplink {u.get('kind')}: " + " ".join(
            f"{k}={v}" for k, v in u.items() if k != "kind"))
    t = s.get("totals", {})
    lines.append("totals: " + " ".join(f"{k}={v}" for k, v in t.items())
                 + f" alerts={s.get('alerts', 0)}")
    for name, c in s.get("sources", {}).items():
        lines.append(f"source {name}: " + " ".join(f"{k}={v}" for k, v in c.items()))
        reasons = s.get("error_reasons", {}).get(name)
        if reasons:
            lines.append("  errors: " + " ".join(f"{k}={v}" for k, v in reasons.items()))
    state = s.get("node_state", {})
    for name, c in s.get("nodes", {}).items():
        n = state.get(name, {})
        seen = n.get("last_seen") or 0
        lines.append(
            f"node {name}: last seen {time.time() - seen:.0f} s ago via {n.get('source')}, "
            f"fw {n.get('firmware')}, seq {n.get('last_seq')}, "
            + " ".join(f"{k}={v}" for k, v in c.items())
        )
    for bus, sensors in s.get("sdi12", {}).items():
        for node, d in sensors.items():
            lines.append(f"{bus} {node} (address {d.get('address')}): "
                         + " ".join(f"{k}={v}" for k, v in d.items()
                                    if k not in ("address", "last_error"))
                         + (f" last_error={d['last_error']!r}" if d.get("last_error") else ""))
    for bus, devices in s.get("modbus", {}).items():
        for node, d in devices.items():
            lines.append(f"{bus} {node} (unit {d.get('unit')}, {d.get('map')}): "
                         + " ".join(f"{k}={v}" for k, v in d.items()
                                    if k not in ("unit", "map", "last_error"))
                         + (f" last_error={d['last_error']!r}" if d.get("last_error") else ""))
    for node, r in s.get("lorawan", {}).items():
        lines.append(f"lorawan {node} ({r.get('device')}, {r.get('dev_eui')}): fcnt "
                     f"{r.get('f_cnt')} rssi {r.get('rssi')} snr {r.get('snr')} via "
                     f"{r.get('gateway')} ({r.get('gateways')} gateways)")
    cmds = s.get("commands")
    if cmds:
        lines.append("commands: " + " ".join(f"{k}={v}" for k, v in cmds.items()))
    return "\n".join(lines)
