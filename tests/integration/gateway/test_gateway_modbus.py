"""Modbus RTU and TCP polling against pymodbus's own server, not a mock.

RTU: ``siaga.simulators.modbus_slaves.ModbusSlaveLine`` runs pymodbus's
``ModbusSerialServer`` on one pty and bridges it to the pty the gateway opens (the
wire), with faults injected in the server's outgoing bytes and device action.
TCP: pymodbus's ``ModbusTcpServer`` on a loopback port.
"""

from __future__ import annotations

import asyncio
import json
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from siaga.firmware_bridge.modbus_map import shipped_map
from siaga.gateway.config import settings_from_table
from siaga.gateway.messages import InboundBatch, IngestError, NodeMessage, SourceAlert
from siaga.gateway.modbus.poller import BusPoller
from siaga.gateway.modbus.settings import ModbusSettings
from siaga.gateway.runtime import GatewayRuntime
from siaga.simulators.modbus_slaves import LineFault, ModbusSlaveLine, SlaveDevice
from siaga.simulators.servers import free_port
from tests.integration.gateway.gateway_harness import CapturedStdout

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


class Collected:
    """Everything a poller puts on its queue, sorted by kind, drained by a thread."""

    def __init__(self) -> None:
        self.q: queue.Queue[Any] = queue.Queue(maxsize=100)
        self.items: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                batch: InboundBatch = self.q.get(timeout=0.1)
            except queue.Empty:
                continue
            self.items.extend(batch.items)

    def ups(self, node: str) -> list[dict[str, float]]:
        return [i.message.values for i in list(self.items) if isinstance(i, NodeMessage)
                and i.message.node == node and i.message.kind == "up"]

    def of(self, kind: type) -> list[Any]:
        return [i for i in list(self.items) if isinstance(i, kind)]

    def wait(self, predicate: Any, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out; got {self.items[-6:]}"
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


@pytest.fixture
def line() -> Iterator[ModbusSlaveLine]:
    devices = [SlaveDevice("soil-1", 1, shipped_map("soil-probe")),
               SlaveDevice("rain-1", 2, shipped_map("rain-counter")),
               SlaveDevice("dead-1", 3, shipped_map("water-level")),
               SlaveDevice("tilt-1", 4, shipped_map("inclinometer"))]
    with ModbusSlaveLine(devices, faults=(LineFault(3, "dead"),)) as line:
        line.set_values("soil-1", {"vwc": 31.4, "temp": -2.5, "ec": 420})
        line.set_values("rain-1", {"rain": 70_000})
        line.set_values("dead-1", {"level": 1.5})
        line.set_values("tilt-1", {"tilt": -1.234, "tilt_y": 0.5})
        yield line


def bus_table(port: str, **device_kw: Any) -> dict[str, Any]:
    return {"name": "a", "port": port, "timeout_s": 0.2, "retries": 1, "down_poll_s": 0.5,
            "device": [
        {"node": "soil-1", "unit": 1, "map": "soil-probe", "poll_s": 0.5},
        {"node": "rain-1", "unit": 2, "map": "rain-counter", "poll_s": 0.5},
        {"node": "dead-1", "unit": 3, "map": "water-level", "poll_s": 0.5, "alert_after": 2},
        {"node": "tilt-1", "unit": 4, "map": "inclinometer", "poll_s": 0.5},
    ]}


def test_rtu_devices_on_one_line_with_a_dead_one_among_them(line: ModbusSlaveLine) -> None:
    settings = ModbusSettings.from_toml({"bus": [{**bus_table(line.path), "down_poll_s": 5.0}]})
    out, stop = Collected(), threading.Event()
    poller = BusPoller(settings.buses[0], out.q, stop, table_alert_after=settings.alert_after)
    t0 = time.monotonic()
    poller.start()
    try:
        out.wait(lambda: len(out.ups("tilt-1")) >= 6 and out.of(SourceAlert))
    finally:
        stop.set()
        poller.join(5)
        out.close()
    elapsed = time.monotonic() - t0
    assert out.ups("soil-1")[0] == {"vwc": 31.4, "temp": -2.5, "ec": 420.0}
    assert out.ups("rain-1")[0] == {"rain": 70_000.0}
    assert out.ups("tilt-1")[0] == {"tilt": -1.234, "tilt_y": 0.5}
    # The dead device costs one timeout per poll once down, never the others' polls: six
    # polls of the last device on the line within a few of its 0.5 s intervals.
    assert elapsed < 6.0, elapsed
    (alert,) = out.of(SourceAlert)
    assert (alert.alert.node, alert.alert.hazard, int(alert.alert.level)) == (
        "dead-1", "sensor_fault", 3)
    errors = out.of(IngestError)
    assert errors and {e.reason for e in errors} == {"modbus_timeout"}
    assert all("dead-1" in e.detail for e in errors)
    health = poller.snapshot()
    assert health["dead-1"]["down"] and health["dead-1"]["ok"] == 0
    # Once down it is asked every down_poll_s (5 s), not every 0.5 s: two polls to go down.
    assert health["dead-1"]["polls"] <= 3, health["dead-1"]
    assert health["soil-1"]["timeouts"] == 0 and health["soil-1"]["ok"] >= 6
    # The first poll of each device is a hello with its channels and interval.
    hellos = [i.message for i in out.items if isinstance(i, NodeMessage)
              and i.message.kind == "hello"]
    assert {h.node: h.channels for h in hellos}["soil-1"] == ("vwc", "temp", "ec")


def test_crc_errors_and_exception_answers_are_told_apart(line: ModbusSlaveLine) -> None:
    line.set_fault(3, "dead", 0)
    line.set_fault(1, "crc")
    line.set_fault(2, "exception")
    settings = ModbusSettings.from_toml({"bus": [bus_table(line.path)]})
    out, stop = Collected(), threading.Event()
    poller = BusPoller(settings.buses[0], out.q, stop, table_alert_after=settings.alert_after)
    poller.start()
    try:
        out.wait(lambda: len(out.of(SourceAlert)) >= 2)
        line.set_fault(1, "crc", 0)  # the probe's cable fixed: it answers again
        out.wait(lambda: any(a.alert.node == "soil-1" and int(a.alert.level) == 1
                             for a in out.of(SourceAlert)))
    finally:
        stop.set()
        poller.join(5)
        out.close()
    reasons = {e.detail.split(" ")[1]: e.reason for e in out.of(IngestError)}
    assert reasons["soil-1"] == "modbus_crc" and reasons["rain-1"] == "modbus_exception"
    detail = next(e.detail for e in out.of(IngestError) if e.reason == "modbus_exception")
    assert "exception 6 (device busy)" in detail
    assert out.ups("dead-1")[0] == {"level": 1.5}
    assert poller.snapshot()["soil-1"]["crc_errors"] >= 3


@pytest.fixture
def tcp_server() -> Iterator[int]:
    """pymodbus's TCP server with an inclinometer (f32, little word order) at unit 7."""
    port = free_port()
    x = list(struct.unpack(">HH", struct.pack(">f", 2.75)))[::-1]
    device = SimDevice(id=7, simdata=[SimData(0, values=x + [0xFFFF, 0xFC18],
                                              datatype=DataType.REGISTERS)])
    ready, stop = threading.Event(), threading.Event()

    def serve() -> None:
        async def main() -> None:
            server = ModbusTcpServer(device, address=("127.0.0.1", port))
            await server.serve_forever(background=True)
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await server.shutdown()
        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield port
    stop.set()
    thread.join(5)


def test_modbus_tcp_with_an_inline_map(tcp_server: int) -> None:
    settings = ModbusSettings.from_toml({
        "maps": {"tilt-f32": {"point": [
            {"channel": "tilt", "register": 0, "type": "f32", "word_order": "little",
             "unit": "deg"},
            {"channel": "tilt_y", "register": 2, "type": "s32", "scale": 0.001},
        ]}},
        "bus": [{"name": "plc", "host": "127.0.0.1", "tcp_port": tcp_server, "device": [
            {"node": "tilt-7", "unit": 7, "map": "tilt-f32", "poll_s": 0.2},
            {"node": "ghost", "unit": 9, "map": "soil-probe", "poll_s": 0.2},
        ]}],
    })
    out, stop = Collected(), threading.Event()
    poller = BusPoller(settings.buses[0], out.q, stop, table_alert_after=settings.alert_after)
    poller.start()
    try:
        out.wait(lambda: len(out.ups("tilt-7")) >= 3 and out.of(IngestError))
    finally:
        stop.set()
        poller.join(5)
        out.close()
    assert out.ups("tilt-7")[0] == {"tilt": 2.75, "tilt_y": -1.0}
    assert poller.snapshot()["ghost"]["ok"] == 0


def test_gateway_runtime_turns_counts_into_rain_and_reports_bus_health(
    line: ModbusSlaveLine, tmp_path: Path
) -> None:
    settings = settings_from_table({
        "gateway": {"id": "gw-mb", "state_dir": str(tmp_path), "status_write_s": 0.2},
        "output": {"stdout": True},
        "nodes": {"rain-1": {"mm_per_tip": 0.5}},
        "modbus": {"bus": [bus_table("/dev/null/replaced")],
                   "bus_ports": {"a": line.path}},
    })
    out = CapturedStdout()
    runtime = GatewayRuntime(settings, out)  # type: ignore[arg-type]
    runtime.start()
    try:
        def rain() -> list[dict[str, Any]]:
            return [r for r in out.of_kind("reading") if r["node"] == "rain-1"]
        deadline = time.monotonic() + 15
        while len(rain()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        line.set_values("rain-1", {"rain": 70_004})
        while not any(r["value"] == 2.0 for r in rain()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        alerts = out.wait_for("alert", 1)
        time.sleep(0.5)
    finally:
        runtime.stop()
    first = rain()[0]
    assert (first["value"], first["raw"], first["unit"], first["source"]) == (
        0.0, 70_000, "mm", "modbus:a")
    assert any(a["node"] == "dead-1" and a["detector"] == "health:bus" for a in alerts)
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["modbus"]["modbus:a"]["dead-1"]["down"] is True
    assert status["node_state"]["soil-1"]["firmware"] == "modbus:soil-probe"
    assert status["error_reasons"]["modbus:a"]["modbus_timeout"] >= 2
    from siaga.gateway.cli import format_status
    assert "modbus:a dead-1 (unit 3, water-level)" in format_status(status)


def test_sim_modbus_cli_serves_the_scenario_to_a_gateway_process(tmp_path: Path) -> None:
    sim = subprocess.Popen(
        [str(BIN / "siaga-sim"), "modbus", "--scenario", "storm", "--speed", "60",
         "--device", "slope-05=soil-probe@1", "--device", "rain-bumiaji-01=rain-counter@2",
         "--fault", "2:crc:0.3", "--duration", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert sim.stdout is not None
        info = json.loads(sim.stdout.readline())
        assert info["devices"] == {"slope-05": {"unit": 1, "map": "soil-probe"},
                                   "rain-bumiaji-01": {"unit": 2, "map": "rain-counter"}}
        config = tmp_path / "gw.toml"
        config.write_text(
            f'[gateway]\nid = "gw-sim"\nstate_dir = "{tmp_path}"\n'
            '[[modbus.bus]]\nname = "field"\nport = "/dev/ttyUSB9"\ntimeout_s = 0.2\n'
            '[[modbus.bus.device]]\nnode = "slope-05"\nunit = 1\nmap = "soil-probe"\n'
            'poll_s = 0.3\n'
            '[[modbus.bus.device]]\nnode = "rain-bumiaji-01"\nunit = 2\n'
            'map = "rain-counter"\npoll_s = 0.3\n'
        )
        gw = _run_for(
            [str(BIN / "siaga-gateway"), "run", "--config", str(config), "--stdout",
             "--modbus-port", f"field={info['path']}"], seconds=4.0)
    finally:
        sim.terminate()
        with sim:  # waits and closes its pipes
            sim.wait(10)
    lines = [json.loads(x) for x in gw.splitlines() if x.strip()]
    vwc = [x for x in lines if x.get("channel") == "vwc"]
    assert vwc and all(0 < x["value"] <= 100 and x["node"] == "slope-05" for x in vwc)
    assert any(x.get("channel") == "rain" for x in lines)
    assert sim.returncode == 0


def _run_for(argv: list[str], seconds: float) -> str:
    """Run the gateway until it has printed for ``seconds`` (its start under load, with
    its imports, can take longer than that), SIGTERM it, return its stdout."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        lines: list[bytes] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, b"")),
                                  daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while not lines and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(seconds)
        proc.terminate()
        proc.wait(20)
        reader.join(5)
    assert proc.returncode == 0, proc.returncode
    return b"".join(lines).decode()
