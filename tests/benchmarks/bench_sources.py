"""Field-bus sources: how many devices a line can carry, and LoRaWAN decode cost.

    .venv/bin/python tests/benchmarks/bench_sources.py [--seconds 5]

- Modbus RTU: one gateway ``BusPoller`` against pymodbus's own server on a pty pair
  (``ModbusSlaveLine``), every device polled as fast as the line allows (poll_s 0.05):
  completed polls per second at 9600 and 115200 baud, with 4 soil probes, and with one
  of them dead (each of its polls costs one timeout of 0.2 s). A pty has no baud rate:
  the figures are the software's cost plus the frame gap the poller keeps, an upper
  bound for a real line, where a 3-register read takes ~22 ms at 9600 baud on the wire.
- SDI-12: complete aM!/aD0! cycles per second against the simulator on a pty.
- LoRaWAN: parse + LPP decode of a ChirpStack uplink, microseconds per message (CPU).
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import threading
import time
from typing import Any

from siaga.firmware_bridge.lorawan import parse_uplink
from siaga.firmware_bridge.modbus_map import shipped_map
from siaga.gateway.lorawan.settings import LorawanSettings
from siaga.gateway.lorawan.uplink_values import profile_of, values_of
from siaga.gateway.modbus.poller import BusPoller
from siaga.gateway.modbus.settings import ModbusSettings
from siaga.gateway.sdi12.poller import Sdi12Poller
from siaga.gateway.sdi12.settings import Sdi12Settings
from siaga.simulators.lorawan_nodes import uplink_json
from siaga.simulators.modbus_slaves import LineFault, ModbusSlaveLine, SlaveDevice
from siaga.simulators.sdi12_sensors import Sdi12SensorLine, SimSensor


def drain(q: queue.Queue[Any], stop: threading.Event, counts: dict[str, int]) -> None:
    while not stop.is_set():
        try:
            batch = q.get(timeout=0.1)
        except queue.Empty:
            continue
        for item in batch.items:
            kind = type(item).__name__
            counts[kind] = counts.get(kind, 0) + 1


def run_poller(poller: threading.Thread, q: queue.Queue[Any], stop: threading.Event,
               seconds: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    reader = threading.Thread(target=drain, args=(q, stop, counts), daemon=True)
    reader.start()
    poller.start()
    time.sleep(seconds)
    stop.set()
    poller.join(10)
    reader.join(2)
    return counts


def modbus(baud: int, devices: int, dead: bool, seconds: float) -> None:
    slaves = [SlaveDevice(f"soil-{u}", u, shipped_map("soil-probe")) for u in
              range(1, devices + 1)]
    faults = (LineFault(devices, "dead"),) if dead else ()
    with ModbusSlaveLine(slaves, baud=baud, faults=faults) as line:
        for s in slaves:
            line.set_values(s.node, {"vwc": 31.4, "temp": 24.5, "ec": 420})
        settings = ModbusSettings.from_toml({"bus": [{
            "name": "b", "port": line.path, "baud": baud, "timeout_s": 0.2, "device": [
                {"node": s.node, "unit": s.unit, "map": "soil-probe", "poll_s": 0.05}
                for s in slaves]}]})
        q: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()
        poller = BusPoller(settings.buses[0], q, stop, table_alert_after=settings.alert_after)
        counts = run_poller(poller, q, stop, seconds)
    ok = counts.get("NodeMessage", 0) - devices + dead  # less the hellos
    print(f"modbus rtu {baud:>6} baud, {devices} soil probes{' (1 dead)' if dead else '':9}: "
          f"{ok / seconds:7.1f} polls/s answered, {counts.get('IngestError', 0) / seconds:5.1f}"
          " failures/s")


def sdi12(seconds: float) -> None:
    sensors = [SimSensor("river-02", "0", ("level", "temp"), measure_s=0.0)]
    with Sdi12SensorLine(sensors) as line:
        line.set_values("river-02", {"level": 1.2, "temp": 24.0})
        settings = Sdi12Settings.from_toml({"bus": [{"name": "s", "port": line.path,
                                                     "sensor": [{"node": "river-02",
                                                                 "channels": ["level", "temp"],
                                                                 "poll_s": 1.0}]}]})
        q: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()
        poller = Sdi12Poller(settings.buses[0], q, stop, table_alert_after=settings.alert_after)
        counts = run_poller(poller, q, stop, seconds)
    print(f"sdi12 (poll_s 1, measurement 0 s): {counts.get('NodeMessage', 0) - 1} cycles in "
          f"{seconds:.0f} s, {line.commands} commands")


def lorawan(n: int = 20000) -> None:
    import random
    settings = LorawanSettings.from_toml({"default_profile": "lpp", "profiles": {"lpp": {
        "codec": "cayenne_lpp", "lpp_channels": {"1": "rain", "2": "vwc", "5": "batt"}}}})
    topic, body = uplink_json("chirpstack", "rain-1", 7, {"rain": 1042, "vwc": 31.5,
                                                          "batt": 3.9},
                              random.Random(1), decoded=False, now=time.time())
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(n):
            up = parse_uplink("chirpstack", topic, body)
            values_of(up, profile_of(up, settings))
        best = min(best, (time.process_time() - t0) / n)
    print(f"lorawan chirpstack uplink parse + LPP decode: {best * 1e6:.1f} us/message "
          f"({len(body)} bytes of JSON)")
    json.loads(body)


def main() -> None:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # as siaga-gateway does
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    a = p.parse_args()
    for baud in (9600, 115200):
        modbus(baud, 4, False, a.seconds)
    modbus(9600, 4, True, a.seconds)
    sdi12(a.seconds)
    lorawan()


if __name__ == "__main__":
    main()
