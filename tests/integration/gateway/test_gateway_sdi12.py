"""SDI-12 through a transparent adapter: the gateway's poller against the SDI-12 simulator
on a pty (``siaga.simulators.sdi12_sensors``), which answers as sensors do."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from siaga.gateway.messages import IngestError, NodeMessage, SourceAlert
from siaga.gateway.sdi12.poller import Sdi12Poller
from siaga.gateway.sdi12.settings import Sdi12Settings
from siaga.simulators.sdi12_sensors import Sdi12SensorLine, SimSensor

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


@pytest.fixture
def line() -> Iterator[Sdi12SensorLine]:
    sensors = [SimSensor("river-02", "0", ("level", "temp", "batt", "ec"), concurrent=True),
               SimSensor("soil-03", "1", ("vwc", "temp"), concurrent=False),
               SimSensor("tilt-04", "2", ("tilt", "tilt_y"), concurrent=True)]
    with Sdi12SensorLine(sensors) as line:
        line.set_values("river-02", {"level": 1.25, "temp": 24.5, "batt": 12.6, "ec": 310})
        line.set_values("soil-03", {"vwc": 37.75, "temp": 22.0})
        line.set_values("tilt-04", {"tilt": -0.5, "tilt_y": 1.25})
        yield line


def collect(settings: Sdi12Settings, until: Any, timeout: float = 20.0) -> tuple[
        list[Any], Sdi12Poller]:
    q: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    poller = Sdi12Poller(settings.buses[0], q, stop, table_alert_after=settings.alert_after)
    poller.start()
    items: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while not until(items):
            assert time.monotonic() < deadline, items[-5:]
            with contextlib.suppress(queue.Empty):
                items.extend(q.get(timeout=0.2).items)
    finally:
        stop.set()
        poller.join(10)
    return items, poller


def ups(items: list[Any], node: str) -> list[dict[str, float]]:
    return [i.message.values for i in items if isinstance(i, NodeMessage)
            and i.message.node == node and i.message.kind == "up"]


def bus(path: str, **sensor_kw: Any) -> dict[str, Any]:
    return {"bus": [{"name": "logger", "port": path, "timeout_s": 0.5, "sensor": [
        {"node": "river-02", "address": "0", "channels": ["level", "temp", "", "ec"],
         "poll_s": 2, "concurrent": True, "crc": True},
        {"node": "soil-03", "address": "1", "channels": ["vwc", "temp"], "poll_s": 2},
        {"node": "tilt-04", "address": "2", "channels": ["tilt", "tilt_y"], "poll_s": 2,
         "concurrent": True, **sensor_kw},
    ]}]}


def test_measure_concurrent_and_crc_cycles_map_values_to_channels(
        line: Sdi12SensorLine) -> None:
    items, poller = collect(Sdi12Settings.from_toml(bus(line.path)),
                            lambda items: len(ups(items, "tilt-04")) >= 2)
    # Four values come in two pages (three per page); the third one is skipped by "".
    assert ups(items, "river-02")[0] == {"level": 1.25, "temp": 24.5, "ec": 310.0}
    assert ups(items, "soil-03")[0] == {"vwc": 37.75, "temp": 22.0}
    assert ups(items, "tilt-04")[0] == {"tilt": -0.5, "tilt_y": 1.25}
    hello = next(i.message for i in items if isinstance(i, NodeMessage)
                 and i.message.kind == "hello" and i.message.node == "river-02")
    assert hello.channels == ("level", "temp", "ec") and hello.fw == "sdi12:0"
    assert not [i for i in items if isinstance(i, IngestError)]
    assert poller.snapshot()["river-02"]["ok"] >= 2


def test_crc_errors_and_a_dead_sensor_are_counted_and_alerted(line: Sdi12SensorLine) -> None:
    line.set_fault("0", "crc")
    line.set_fault("2", "dead")
    table = bus(line.path, alert_after=2)
    items, poller = collect(Sdi12Settings.from_toml(table),
                            lambda items: sum(isinstance(i, SourceAlert) for i in items) >= 2)
    reasons = {(e.detail.split(" ")[1], e.reason) for e in items if isinstance(e, IngestError)}
    assert ("river-02", "sdi12_crc") in reasons and ("tilt-04", "sdi12_timeout") in reasons
    assert {a.alert.node for a in items if isinstance(a, SourceAlert)} == {"river-02", "tilt-04"}
    assert ups(items, "soil-03")  # the healthy sensor kept its schedule
    assert poller.snapshot()["tilt-04"]["down"] is True


def test_sim_sdi12_cli_prints_its_path_and_serves(tmp_path: Path) -> None:
    with subprocess.Popen([str(BIN / "siaga-sim"), "sdi12", "--scenario", "storm",
                           "--speed", "60", "--sensor", "slope-05=0:vwc,temp",
                           "--duration", "20"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as sim:
        assert sim.stdout is not None
        info = json.loads(sim.stdout.readline())
        assert info["sensors"] == {"slope-05": {"address": "0", "channels": ["vwc", "temp"]}}
        settings = Sdi12Settings.from_toml({"bus": [{"name": "x", "port": info["path"],
                                                     "sensor": [{"node": "slope-05",
                                                                 "channels": ["vwc", "temp"],
                                                                 "poll_s": 1.0}]}]})
        try:
            items, _ = collect(settings, lambda items: len(ups(items, "slope-05")) >= 1)
        finally:
            sim.terminate()
    assert 0 < ups(items, "slope-05")[0]["vwc"] <= 100
