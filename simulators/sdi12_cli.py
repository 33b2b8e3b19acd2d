"""``siaga-sim sdi12``: SDI-12 sensors on a pty (a transparent adapter), fed by a scenario.

Prints one JSON object, ``{"path": PTY, "sensors": {node: {"address": A, "channels":
[...]}}}``, then serves until SIGINT/SIGTERM or ``--duration``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable

from siaga.simulators.errors import SimSettingsError
from siaga.simulators.scenario_catalog import build
from siaga.simulators.sdi12_sensors import FAULT_KINDS, Sdi12SensorLine, SimSensor
from siaga.simulators.sensor_feed import ScenarioFeed, extra_values

DEFAULT_SENSORS = ("slope-05=0:vwc,temp,ec", "river-01=1:level,temp")


def parse_sensor(spec: str) -> SimSensor:
    node, sep, rest = spec.partition("=")
    address, colon, channels = rest.partition(":")
    names = tuple(c for c in channels.split(",") if c)
    if not sep or not colon or not node or len(address) != 1 or not address.isalnum() \
            or not names:
        raise SimSettingsError("--sensor", f"{spec!r}: want NODE=ADDRESS:CHANNEL,CHANNEL")
    return SimSensor(node, address, names)


def run_sdi12(args: argparse.Namespace, on_signals: Callable[[threading.Event], None]) -> int:
    if args.speed <= 0:
        raise SimSettingsError("--speed", "must be > 0")
    sensors = [parse_sensor(s) for s in args.sensor or DEFAULT_SENSORS]
    start = time.time() if args.start is None else args.start
    scenario = build(args.scenario, args.seed, start_ts=start)
    done = threading.Event()
    on_signals(done)
    with Sdi12SensorLine(sensors) as line:
        for spec in args.fault or ():
            address, _, kind = spec.partition(":")
            if address not in line.sensors or kind not in FAULT_KINDS:
                raise SimSettingsError("--fault", f"{spec!r}: want ADDRESS:dead|crc|garbage")
            line.set_fault(address, kind)
        for s in sensors:
            line.set_values(s.node, extra_values({}))
        print(json.dumps({"path": line.path, "sensors": {
            s.node: {"address": s.address, "channels": list(s.channels)} for s in sensors}}),
            flush=True)
        feed = ScenarioFeed(scenario, line, args.speed, done)
        feed.start()
        try:
            done.wait(args.duration)
        finally:
            done.set()
            feed.join(5)
    return 0
