"""``siaga-sim``: virtual nodes on ptys or MQTT, the MQTT flood, and batch scenarios.

    siaga-sim serial [--nodes N | --only ID,ID] [--scenario NAME] [--speed X] [--seed S]
                     [--faults SPEC] [--link-dir DIR] [--json] [--duration S]
    siaga-sim mqtt --broker HOST:PORT [--nodes N] [--scenario NAME]
                   [--rate R | --speed X] [--qos 0|1] [--count C] [--node-clock]
                   [--faults SPEC] [--duration S]
    siaga-sim mqtt --broker HOST:PORT --flood --count C [--nodes N] [--qos 1]
    siaga-sim modbus [--scenario NAME] [--speed X] [--seed S] [--device NODE=MAP@UNIT ...]
                     [--baud B] [--fault UNIT:KIND[:RATE] ...] [--link PATH] [--duration S]
    siaga-sim lorawan --broker HOST:PORT --flavour chirpstack|tts [--scenario NAME]
                      [--speed X] [--only ID,ID] [--decoded] [--duration S]
    siaga-sim sdi12 [--scenario NAME] [--speed X] [--sensor NODE=ADDR:CH,CH ...]
                    [--fault ADDR:dead|crc|garbage ...] [--duration S]
    siaga-sim generate NAME [--seed S] [--sim-duration S] [--nodes N] -o OUT.csv
                   [--labels LABELS.json]
    siaga-sim scenarios
    siaga-sim evaluate [--config gateway.toml] [--days D] [--seed S] [--markdown]

Live runs start their simulated clock at the wall clock's now and run until
SIGINT/SIGTERM (exit 0), ``--duration`` wall seconds or ``--count`` messages.
Machine-readable output goes to stdout, logs to stderr. Exit codes: 0 done,
1 the run stopped on an error (or a flood left messages unacknowledged),
2 bad usage, 69 broker or pty unavailable, 78 bad settings (or a bad ``--config``),
141 stdout closed early (``| head``).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from types import FrameType

from siaga.simulators.errors import SimSettingsError, TransportError, UnknownScenarioError
from siaga.simulators.mqtt_nodes import MqttNodeSet, flood
from siaga.simulators.pty_nodes import PtyNodeSet
from siaga.simulators.scenario import Scenario
from siaga.simulators.scenario_catalog import SCENARIOS, build, generate
from siaga.simulators.transport_faults import FaultSettings

log = logging.getLogger("simulators")

EX_UNAVAILABLE = 69
EX_CONFIG = 78


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="siaga-sim", description="Siaga simulated sensor nodes")
    sub = p.add_subparsers(dest="command", required=True)

    def live(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--nodes", type=int, default=None,
                        help="how many nodes (default: all ten of the town)")
        sp.add_argument("--only", default=None,
                        help="comma-separated node ids to run (e.g. one gateway's nodes)")
        sp.add_argument("--scenario", default="quiet", help="scenario name (see 'scenarios')")
        sp.add_argument("--speed", type=float, default=1.0,
                        help="simulated seconds per wall second")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--faults", default="",
                        help="e.g. corrupt=0.01,drop=0.01,garbage=0.01,reboot=0.001,"
                             "silence=0.001,stuck=0.001,banner")
        sp.add_argument("--duration", type=float, default=None,
                        help="stop after this many wall seconds")
        sp.add_argument("--start", type=float, default=None,
                        help="simulated start, epoch s (default: now)")

    s = sub.add_parser("serial", help="nodes on pseudo-terminals")
    live(s)
    s.add_argument("--link-dir", type=Path, default=None,
                   help="make DIR/<node> symlinks to the ptys (like /dev/serial/by-id)")
    s.add_argument("--json", action="store_true", help="print the pty paths as one JSON object")

    m = sub.add_parser("mqtt", help="nodes publishing to an MQTT broker")
    live(m)
    m.add_argument("--broker", required=True, help="HOST:PORT")
    m.add_argument("--rate", type=float, default=None,
                   help="messages per second in total (instead of --speed)")
    m.add_argument("--qos", type=int, choices=(0, 1), default=1)
    m.add_argument("--count", type=int, default=None, help="stop after this many messages")
    m.add_argument("--node-clock", action="store_true",
                   help="send the node's own time in 'ts' (right only at --speed 1)")
    m.add_argument("--flood", action="store_true",
                   help="benchmark: publish --count messages as fast as possible")

    mb = sub.add_parser("modbus", help="Modbus RTU devices on a pty (pymodbus server)")
    mb.add_argument("--scenario", default="quiet", help="scenario name (see 'scenarios')")
    mb.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    mb.add_argument("--seed", type=int, default=0)
    mb.add_argument("--start", type=float, default=None,
                    help="simulated start, epoch s (default: now)")
    mb.add_argument("--device", action="append", metavar="NODE=MAP@UNIT",
                    help="a scenario node served as a device with a shipped map, e.g. "
                         "slope-05=soil-probe@1 (repeatable; default: one of each map)")
    mb.add_argument("--baud", type=int, default=9600)
    mb.add_argument("--fault", action="append", metavar="UNIT:KIND[:RATE]",
                    help="timeout|crc|exception|dead for one unit, e.g. 3:dead, 1:crc:0.2")
    mb.add_argument("--link", type=Path, default=None,
                    help="make a symlink at PATH to the line's pty (like /dev/serial/by-id)")
    mb.add_argument("--duration", type=float, default=None,
                    help="stop after this many wall seconds")

    lw = sub.add_parser("lorawan", help="LoRaWAN devices as a network server's MQTT JSON")
    lw.add_argument("--broker", required=True, help="HOST:PORT")
    lw.add_argument("--flavour", choices=("chirpstack", "tts"), default="chirpstack")
    lw.add_argument("--scenario", default="quiet", help="scenario name (see 'scenarios')")
    lw.add_argument("--speed", type=float, default=1.0)
    lw.add_argument("--seed", type=int, default=0)
    lw.add_argument("--start", type=float, default=None)
    lw.add_argument("--only", default=None, help="comma-separated node ids")
    lw.add_argument("--decoded", action="store_true",
                    help="include the network server's decoded object (else LPP only)")
    lw.add_argument("--duration", type=float, default=None)

    sd = sub.add_parser("sdi12", help="SDI-12 sensors behind a transparent adapter, on a pty")
    sd.add_argument("--scenario", default="quiet")
    sd.add_argument("--speed", type=float, default=1.0)
    sd.add_argument("--seed", type=int, default=0)
    sd.add_argument("--start", type=float, default=None)
    sd.add_argument("--sensor", action="append", metavar="NODE=ADDR:CH,CH",
                    help="a scenario node as a sensor, e.g. slope-05=0:vwc,temp (repeatable)")
    sd.add_argument("--fault", action="append", metavar="ADDR:KIND",
                    help="dead|crc|garbage for one address")
    sd.add_argument("--duration", type=float, default=None)

    g = sub.add_parser("generate", help="run a scenario to its end and write its samples")
    g.add_argument("name")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--sim-duration", type=float, default=None, help="simulated seconds")
    g.add_argument("--nodes", type=int, default=None)
    g.add_argument("-o", "--output", type=Path, required=True,
                   help="CSV: timestamp,node,channel,value (counters raw)")
    g.add_argument("--labels", type=Path, default=None, help="write the labels as JSON")

    sub.add_parser("scenarios", help="list the scenarios")

    e = sub.add_parser("evaluate",
                       help="score the detectors: detection delay and false alarms per scenario")
    e.add_argument("--config", help="TOML with an [analytics] table (e.g. a gateway config)")
    e.add_argument("--days", type=float, default=7.0, help="days of quiet data per detector")
    e.add_argument("--seed", type=int, default=7)
    e.add_argument("--markdown", action="store_true", help="print a markdown table")
    return p


def _broker(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SimSettingsError("--broker", f"{text!r} is not HOST:PORT")
    return host, int(port)


def _live_scenario(args: argparse.Namespace) -> Scenario:
    if args.speed <= 0:
        raise SimSettingsError("--speed", "must be > 0")
    if args.nodes is not None and args.nodes < 1:
        raise SimSettingsError("--nodes", "must be >= 1")
    start = time.time() if args.start is None else args.start
    only = tuple(n for n in args.only.split(",") if n) if args.only else None
    return build(args.scenario, args.seed, start_ts=start, nodes=args.nodes, only=only)


def _stop_on_signals(done: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        done.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _serial(args: argparse.Namespace) -> int:
    faults = FaultSettings.parse(args.faults, args.seed)
    scenario = _live_scenario(args)
    done = threading.Event()
    _stop_on_signals(done)
    with PtyNodeSet(scenario, speed=args.speed, faults=faults, link_dir=args.link_dir,
                    finished=done) as nodes:
        if args.json:
            print(json.dumps({"nodes": nodes.paths,
                              "links": {k: str(v) for k, v in nodes.links.items()}}), flush=True)
        else:
            for node_id, path in nodes.paths.items():
                print(node_id, path, flush=True)
        log.info("scenario %s, %d nodes, speed %g", scenario.name, len(nodes.paths), args.speed)
        done.wait(args.duration)
    log.info("wrote %d frames (%d bytes, %d dropped: no reader), answered %d commands",
             nodes.stats.frames, nodes.stats.bytes, nodes.stats.dropped_bytes,
             nodes.stats.commands)
    return 1 if nodes.failed else 0


def _mqtt(args: argparse.Namespace) -> int:
    host, port = _broker(args.broker)
    if args.flood:
        if not args.count or args.count < 1:
            raise SimSettingsError("--count", "--flood needs a message count")
        scenario = _live_scenario(args)
        result = flood(scenario, host, port, args.count, qos=args.qos)
        print(json.dumps({"sent": result.sent, "acked": result.acked,
                          "seconds": round(result.seconds, 3), "rate": round(result.rate, 1),
                          "prepare_seconds": round(result.prepare_seconds, 3)}), flush=True)
        return 0 if result.acked == result.sent else 1
    if args.rate is not None and args.rate <= 0:
        raise SimSettingsError("--rate", "must be > 0")
    faults = FaultSettings.parse(args.faults, args.seed)
    scenario = _live_scenario(args)
    done = threading.Event()
    _stop_on_signals(done)
    with MqttNodeSet(scenario, host, port, speed=args.speed, rate=args.rate, qos=args.qos,
                     count=args.count, faults=faults, node_clock=args.node_clock,
                     finished=done) as nodes:
        log.info("scenario %s, %d nodes -> %s:%d", scenario.name, len(scenario.nodes), host, port)
        done.wait(args.duration)
    stats = nodes.stats
    print(json.dumps({"published": stats.published, "acked": stats.acked}), flush=True)
    return 1 if nodes.failed else 0


def _modbus(args: argparse.Namespace) -> int:
    from siaga.simulators.modbus_cli import run_modbus  # pymodbus only for this command

    return run_modbus(args, _stop_on_signals)


def _lorawan(args: argparse.Namespace) -> int:
    from siaga.simulators.lorawan_nodes import LorawanNodeSet

    host, port = _broker(args.broker)
    if args.speed <= 0:
        raise SimSettingsError("--speed", "must be > 0")
    start = time.time() if args.start is None else args.start
    only = tuple(n for n in args.only.split(",") if n) if args.only else None
    scenario = build(args.scenario, args.seed, start_ts=start, only=only)
    done = threading.Event()
    _stop_on_signals(done)
    try:
        nodes = LorawanNodeSet(scenario, host, port, args.flavour, speed=args.speed,
                               decoded=args.decoded, seed=args.seed, only=only)
    except OSError as e:
        raise TransportError(f"cannot reach the broker {host}:{port}: {e}") from e
    nodes.start()
    log.info("scenario %s as %s uplinks -> %s:%d", scenario.name, args.flavour, host, port)
    done.wait(args.duration)
    nodes.close()
    print(json.dumps({"published": nodes.published, "downlinks": nodes.downlinks}), flush=True)
    return 0


def _sdi12(args: argparse.Namespace) -> int:
    from siaga.simulators.sdi12_cli import run_sdi12

    return run_sdi12(args, _stop_on_signals)


def _generate(args: argparse.Namespace) -> int:
    run = generate(args.name, args.seed, args.sim_duration, nodes=args.nodes)
    with args.output.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("timestamp", "node", "channel", "value"))
        for s in run.samples:
            w.writerow((f"{s.ts:.3f}", s.node, s.channel, s.value))
    if args.labels is not None:
        args.labels.write_text(json.dumps({
            "scenario": run.name, "seed": run.seed, "start_ts": run.start_ts,
            "end_ts": run.end_ts, "labels": [asdict(lb) for lb in run.labels],
            "sites": {k: asdict(v) for k, v in run.sites.items()},
            "nodes": {k: asdict(v) for k, v in run.nodes.items()},
        }, indent=1))
    log.info("%s: %d samples, %d labels -> %s", run.name, len(run.samples), len(run.labels),
             args.output)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import tomllib

    from siaga.analytics.cli import load_config_file
    from siaga.analytics.errors import ConfigError
    from siaga.simulators.evaluation import evaluate, format_table

    try:
        cfg = load_config_file(args.config)
    except ConfigError as exc:
        raise SimSettingsError("--config", str(exc)) from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SimSettingsError("--config", f"cannot read {args.config}: {exc}") from exc
    print(format_table(evaluate(cfg, quiet_days=args.days, seed=args.seed),
                       markdown=args.markdown))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        if args.command == "serial":
            return _serial(args)
        if args.command == "mqtt":
            return _mqtt(args)
        if args.command == "generate":
            return _generate(args)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "modbus":
            return _modbus(args)
        if args.command == "lorawan":
            return _lorawan(args)
        if args.command == "sdi12":
            return _sdi12(args)
        for spec in SCENARIOS.values():
            print(f"{spec.name:13} {spec.duration_s / 3600:5.1f} h  {spec.description}")
        return 0
    except (SimSettingsError, UnknownScenarioError) as e:
        print(f"siaga-sim: {e}", file=sys.stderr)
        return EX_CONFIG
    except TransportError as e:
        print(f"siaga-sim: {e}", file=sys.stderr)
        return EX_UNAVAILABLE
    except BrokenPipeError:
        # The reader went away (scenarios | head): stop quietly, as a Unix filter does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # fd 1 even if sys.stdout is closed
        return 141


if __name__ == "__main__":
    sys.exit(main())
