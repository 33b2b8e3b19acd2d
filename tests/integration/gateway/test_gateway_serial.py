"""The gateway reading real pseudo-terminals through pyserial, as it reads /dev/ttyUSB0."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from siaga.analytics.engine import EdgeAnalytics
from siaga.firmware_bridge.codec import Frame, encode_frame
from siaga.gateway.config import load_settings
from siaga.gateway.runtime import GatewayRuntime
from tests.integration.gateway.gateway_harness import CapturedStdout, VirtualPort, wait_open

pytestmark = pytest.mark.integration


@pytest.fixture
def port(tmp_path: Path) -> Iterator[VirtualPort]:
    p = VirtualPort(tmp_path / "ttyNODE0")
    yield p
    p.close()


def start(
    tmp_path: Path, *ports: str, wait: bool = True, **extra: object
) -> tuple[GatewayRuntime, CapturedStdout]:
    overrides = {
        "serial.ports": list(ports),
        "serial.reconnect_min_s": 0.05,
        "serial.reconnect_max_s": 0.2,
        "serial.rescan_s": 0.1,
        "serial.read_timeout_s": 0.05,
        "output.stdout": True,
        "gateway.state_dir": str(tmp_path / "state"),
        "gateway.status_write_s": 0.2,
        **extra,
    }
    out = CapturedStdout()
    runtime = GatewayRuntime(load_settings(None, {}, overrides), out)  # type: ignore[arg-type]
    runtime.start()
    for p in ports:
        if wait and "*" not in p:
            wait_open(runtime, p)
    return runtime, out


def test_frames_garbage_split_and_crc_errors(tmp_path: Path, port: VirtualPort) -> None:
    runtime, out = start(tmp_path, str(port.link))
    try:
        port.send("H", "slope-07", 0, fw="1.4.2", ch="vwc|batt", int=60)
        port.write(b"boot banner v1.4.2\r\n\x00\xff noise ")
        frame = port.send("D", "slope-07", 1, vwc=31.5, batt=3.92)
        split = encode_frame(Frame("D", "slope-07", 2, {"vwc": 32.0, "batt": 3.91}))
        port.write(split[:7])
        port.write(split[7:20])
        port.write(split[20:])
        bad = bytearray(frame.replace(b",1,", b",3,"))  # body changed, CRC kept
        port.write(bytes(bad))
        port.send("D", "slope-07", 4, vwc=33.0, batt=3.9)

        readings = out.wait_for("reading", 6)
        errors = out.wait_for("error", 1)
    finally:
        runtime.stop()
    vwc = [(r["seq"], r["value"]) for r in readings if r["channel"] == "vwc"]
    assert vwc == [(1, 31.5), (2, 32.0), (4, 33.0)]
    first = next(r for r in readings if r["channel"] == "vwc")
    assert first["node"] == "slope-07" and first["unit"] == "%"
    assert first["source"] == f"serial:{port.link}"
    crc = [e for e in errors if e["reason"] == "crc_mismatch"]
    assert len(crc) == 1 and crc[0]["source"] == f"serial:{port.link}"
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    node = status["nodes"]["slope-07"]
    assert node["frames_ok"] == 4 and node["gaps"] == 1
    assert status["totals"]["crc_errors"] == 1
    assert status["node_state"]["slope-07"]["firmware"] == "1.4.2"
    assert status["node_state"]["slope-07"]["channels"] == ["vwc", "batt"]


def test_duplicate_frame_dropped_and_reboot_counted(tmp_path: Path, port: VirtualPort) -> None:
    runtime, out = start(tmp_path, str(port.link))
    try:
        port.send("D", "n1", 500, temp=25.0)
        port.send("D", "n1", 500, temp=25.0)
        port.send("H", "n1", 0, fw="2.0", ch="temp", int=10)
        port.send("D", "n1", 1, temp=26.0)
        readings = out.wait_for("reading", 2)
    finally:
        runtime.stop()
    assert [r["seq"] for r in readings] == [500, 1]
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    assert status["nodes"]["n1"]["duplicates"] == 1
    assert status["nodes"]["n1"]["reboots"] == 1
    assert status["nodes"]["n1"]["gaps"] == 0


def test_unplug_and_replug_behind_the_same_name(tmp_path: Path, port: VirtualPort) -> None:
    runtime, out = start(tmp_path, str(port.link))
    try:
        port.send("D", "n2", 1, vwc=10.0)
        out.wait_for("reading", 1)
        port.unplug()
        port.plug()
        wait_reopened(runtime, port)
        port.send("D", "n2", 2, vwc=11.0)
        port.send("D", "n2", 3, vwc=12.0)
        readings = out.wait_for("reading", 3)
    finally:
        runtime.stop()
    assert [r["value"] for r in readings] == [10.0, 11.0, 12.0]


def wait_reopened(runtime: GatewayRuntime, port: VirtualPort) -> None:
    # The reader notices the hang-up, then reopens the new pty behind the same name.
    assert runtime.serial is not None
    reader = runtime.serial.writer(f"serial:{port.link}")
    assert reader is not None
    deadline = time.monotonic() + 10
    while reader.opens < 2:
        assert time.monotonic() < deadline, "gateway did not reopen the port"
        time.sleep(0.01)


def test_glob_finds_ports_that_appear_later(tmp_path: Path) -> None:
    runtime, out = start(tmp_path, str(tmp_path / "ttyGLOB*"))
    ports = []
    try:
        ports = [VirtualPort(tmp_path / "ttyGLOB0"), VirtualPort(tmp_path / "ttyGLOB1")]
        for p in ports:
            wait_open(runtime, str(p.link))
        ports[0].send("D", "a", 1, hum=50.0)
        ports[1].send("D", "b", 1, hum=60.0)
        readings = out.wait_for("reading", 2)
    finally:
        runtime.stop()
        for p in ports:
            p.close()
    assert sorted((r["node"], r["source"]) for r in readings) == [
        ("a", f"serial:{tmp_path / 'ttyGLOB0'}"), ("b", f"serial:{tmp_path / 'ttyGLOB1'}"),
    ]


def test_port_is_not_left_locked_after_stop(tmp_path: Path, port: VirtualPort) -> None:
    runtime, out = start(tmp_path, str(port.link))
    port.send("D", "n3", 1, vwc=1.0)
    out.wait_for("reading", 1)
    with pytest.raises(serial.SerialException):
        serial.Serial(str(port.link), exclusive=True)  # the gateway holds it now
    runtime.stop()
    serial.Serial(str(port.link), exclusive=True).close()


def test_command_over_serial_is_acked_or_times_out(tmp_path: Path, port: VirtualPort) -> None:
    runtime, out = start(tmp_path, str(port.link), **{
        "downlink.ack_timeout_s": 0.3, "downlink.retries": 1,
    })
    try:
        port.send("D", "n4", 7, vwc=1.0)
        out.wait_for("reading", 1)
        future = runtime.command("n4", "interval", 30)
        line = port.read_line()
        assert line.startswith(b"$SG,C,n4,1,cmd=interval,v=30*")
        port.send("A", "n4", 8, cseq=1, ok=1)
        result = future.result(timeout=5)
        assert result.ok and result.cseq == 1 and result.attempts == 1

        lost = runtime.command("n4", "ping")
        first, again = port.read_line(), port.read_line()
        assert first == again and b",cmd=ping*" in first  # resent with the same number
        assert lost.result(timeout=5).status == "timeout"
        assert runtime.command("nobody", "ping").result(timeout=5).status == "no_route"
    finally:
        runtime.stop()


def test_port_missing_at_start_is_logged_once_then_read_when_it_appears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    link = tmp_path / "ttyLATE"
    caplog.set_level(logging.INFO, logger="siaga.gateway.sources.serial_source")
    runtime, out = start(tmp_path, str(link), wait=False)
    port = None
    try:
        time.sleep(1.0)  # many retries at 0.05..0.2 s
        port = VirtualPort(link)
        wait_open(runtime, str(link))
        port.send("D", "late", 1, vwc=5.0)
        out.wait_for("reading", 1)
    finally:
        runtime.stop()
        if port is not None:
            port.close()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot open" in m for m in messages) == 1
    assert sum("open again after" in m for m in messages) == 1


def send_spiking_temperature(port: VirtualPort, out: CapturedStdout) -> None:
    """40 readings of a calm temperature, the 31st a spike the anomaly score flags."""
    for seq in range(1, 41):
        port.send("D", "n3", seq, temp=25.0 + 0.1 * (seq % 3) + (8.0 if seq == 31 else 0.0))
    out.wait_for("reading", 40)


def hazard_alerts(out: CapturedStdout) -> list[dict[str, object]]:
    return [a for a in out.of_kind("alert") if a["hazard"] != "sensor_fault"]


def test_the_anomaly_score_runs_only_when_it_raises_alerts(tmp_path: Path,
                                                          port: VirtualPort) -> None:
    """At its defaults (anomaly.emit_alerts off) nothing of the gateway reads the anomaly
    score, so it is not run (issue 17: ~70% of detection's CPU); turned on, it runs and
    alerts as before."""
    small = {"analytics.anomaly.warmup": 5, "analytics.anomaly.window": 9}
    runtime, out = start(tmp_path / "off", str(port.link), **small)
    try:
        send_spiking_temperature(port, out)
    finally:
        runtime.stop()
    assert hazard_alerts(out) == []
    assert isinstance(runtime.core.detection, EdgeAnalytics)
    detectors = {s.detector for s in runtime.core.detection.levels()}
    assert "health:temp" in detectors and "anomaly:temp" not in detectors

    runtime, out = start(tmp_path / "on", str(port.link), **small,
                         **{"analytics.anomaly.emit_alerts": True})
    try:
        send_spiking_temperature(port, out)
    finally:
        runtime.stop()
    alerts = hazard_alerts(out)
    assert [(a["detector"], a["level"]) for a in alerts][:1] == [("anomaly:temp", 2)]
