"""``siaga-sim modbus``: a line of simulated Modbus RTU devices on a pty, fed by a scenario.

Prints one JSON object on stdout, ``{"path": PTY, "link": PATH|null, "baud": B,
"devices": {node: {"unit": U, "map": NAME}}}``, then serves until SIGINT/SIGTERM or
``--duration``. Point a ``[[modbus.bus]]`` with those devices at ``path`` (or run the
gateway with ``--modbus-port BUS=PATH``).
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from collections.abc import Callable
from contextlib import suppress

from siaga.firmware_bridge.errors import RegisterMapError
from siaga.firmware_bridge.modbus_map import shipped_map, shipped_map_names
from siaga.simulators.errors import SimSettingsError
from siaga.simulators.modbus_slaves import LineFault, ModbusSlaveLine, SlaveDevice
from siaga.simulators.scenario_catalog import build
from siaga.simulators.sensor_feed import ScenarioFeed, extra_values

log = logging.getLogger(__name__)

# One device of each shipped map on the Bumiaji slope (river-01 is no scenario node:
# its level stays at the feed's constant).
DEFAULT_DEVICES = ("slope-05=soil-probe@1", "rain-bumiaji-01=rain-counter@2",
                   "slope-06=inclinometer@3", "river-01=water-level@4")


def parse_device(spec: str) -> SlaveDevice:
    node, sep, rest = spec.partition("=")
    name, at, unit = rest.partition("@")
    if not sep or not at or not node or not unit.isdigit() or not 1 <= int(unit) <= 247:
        raise SimSettingsError("--device", f"{spec!r}: want NODE=MAP@UNIT (unit 1..247)")
    if name not in shipped_map_names():
        raise SimSettingsError("--device", f"{spec!r}: no shipped map {name!r} (known: "
                               f"{', '.join(shipped_map_names())})")
    try:
        return SlaveDevice(node, int(unit), shipped_map(name))
    except RegisterMapError as e:  # a shipped map that does not parse is a bug, said plainly
        raise SimSettingsError("--device", str(e)) from None


def run_modbus(args: argparse.Namespace,
               on_signals: Callable[[threading.Event], None]) -> int:
    if args.speed <= 0:
        raise SimSettingsError("--speed", "must be > 0")
    devices = [parse_device(spec) for spec in (args.device or DEFAULT_DEVICES)]
    faults = tuple(LineFault.parse(spec) for spec in args.fault or ())
    start = time.time() if args.start is None else args.start
    scenario = build(args.scenario, args.seed, start_ts=start)
    done = threading.Event()
    on_signals(done)
    with ModbusSlaveLine(devices, baud=args.baud, faults=faults, seed=args.seed) as line:
        for d in devices:
            line.set_values(d.node, extra_values({}))
        if args.link is not None:
            with suppress(FileNotFoundError):
                args.link.unlink()
            args.link.symlink_to(line.path)
        print(json.dumps({
            "path": line.path, "link": str(args.link) if args.link else None, "baud": args.baud,
            "devices": {d.node: {"unit": d.unit, "map": d.map.name} for d in devices},
        }), flush=True)
        feed = ScenarioFeed(scenario, line, args.speed, done)
        feed.start()
        log.info("scenario %s, %d devices on %s at %d baud", scenario.name, len(devices),
                 line.path, args.baud)
        try:
            done.wait(args.duration)
        finally:
            done.set()
            feed.join(5)
            if args.link is not None:
                with suppress(FileNotFoundError):
                    args.link.unlink()
    log.info("answered %d requests, %d faults applied, %d value updates",
             line.answered, line.faults_applied, feed.updates)
    return 0
