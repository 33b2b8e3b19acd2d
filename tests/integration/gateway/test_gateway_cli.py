"""``siaga-gateway`` as a separate process: JSON lines on stdout, exit codes, status."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.gateway.gateway_harness import VirtualPort

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def gateway(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "siaga.gateway", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def end(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process if it still runs, reap it and close its pipes."""
    with proc:
        if proc.poll() is None:
            proc.kill()


class Lines:
    """Lines of a child's pipe, read with os.read: select() on a buffered reader would
    miss lines already pulled into its buffer."""

    def __init__(self, pipe: Any) -> None:
        self.fd = pipe.fileno()
        self.buf = b""

    def next(self, deadline: float) -> str:
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; partial: {self.buf!r}"
            if select.select([self.fd], [], [], left)[0]:
                chunk = os.read(self.fd, 65536)
                assert chunk, f"pipe closed; partial: {self.buf!r}"
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def read_lines(out: Lines, count: int, timeout: float = 15) -> list[Any]:
    deadline = time.monotonic() + timeout
    return [json.loads(out.next(deadline)) for _ in range(count)]


def wait_for_log(err: Lines, text: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while text not in err.next(deadline):
        pass


def test_run_prints_json_lines_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = VirtualPort(tmp_path / "ttyCLI0")
    state = tmp_path / "state"
    proc = gateway("run", "--serial", str(port.link), "--baud", "9600", "--stdout",
                   "--state-dir", str(state), "--gateway-id", "gw-cli")
    try:
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        wait_for_log(err, f"{port.link}: open at 9600 baud")
        port.send("H", "cli-1", 0, fw="1.0.0", ch="vwc|rain", int=60)
        port.send("D", "cli-1", 1, vwc=40.25, rain=100)
        port.send("D", "cli-1", 2, vwc=40.5, rain=103)
        port.write(b"$SG,D,cli-1,3,vwc=1*0000\r\n")
        lines = read_lines(out, 5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        end(proc)
        port.close()
    readings = [x for x in lines if x["kind"] == "reading"]
    assert [(r["channel"], r["value"], r["seq"]) for r in readings] == [
        ("vwc", 40.25, 1), ("rain", 0.0, 1), ("vwc", 40.5, 2), ("rain", 0.6, 2),
    ]
    assert readings[3]["unit"] == "mm" and readings[3]["raw"] == 103
    assert readings[0]["ts"].endswith("Z") and readings[0]["node"] == "cli-1"
    errors = [x for x in lines if x["kind"] == "error"]
    assert errors[0]["reason"] == "crc_mismatch"
    assert errors[0]["source"] == f"serial:{port.link}"

    status = subprocess.run(
        [sys.executable, "-m", "siaga.gateway", "status", "--state-dir", str(state)],
        capture_output=True, text=True, cwd=ROOT, timeout=30,
    )
    # the gateway has stopped: its last counters, but never "running" (issue 12 case 10)
    assert status.returncode == 3
    assert status.stdout.startswith("gateway gw-cli NOT RUNNING: pid ")
    assert "node cli-1:" in status.stdout and "frames_ok=3" in status.stdout
    assert "crc_mismatch=1" in status.stdout


def test_bad_config_exits_78_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text('[serial]\nports = ["/dev/ttyUSB0"]\nbaud = "fast"\n')
    for args in (("run", "--config", str(config)), ("check-config", str(config))):
        proc = gateway(*args)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 78
        assert b"serial.baud" in err
    proc = gateway("run", "--serial", "/dev/null", "--stdout",
                   env={"SIAGA_MQTT__PORT": "99999"})
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 78 and b"mqtt.port" in err


def test_check_config_without_a_file_says_so() -> None:
    proc = gateway("check-config")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 78
    assert b"no config file given" in err and b"no source" not in err


def test_check_config_accepts_a_good_file(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(
        '[gateway]\nid = "gw-ok"\n[serial]\nports = ["/dev/serial/by-id/usb-node*"]\n'
        '[mqtt]\nhost = "127.0.0.1"\n[uplink]\nkind = "mqtt"\nhost = "hub.example"\n'
    )
    proc = gateway("check-config", str(config))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert b"gateway.id = gw-ok" in out and b"uplink = mqtt hub.example" in out


def test_command_subcommand_reaches_the_node_and_reports_its_ack(tmp_path: Path) -> None:
    port = VirtualPort(tmp_path / "ttyCMD0")
    state = tmp_path / "state"
    proc = gateway("run", "--serial", str(port.link), "--state-dir", str(state))
    try:
        wait_for_log(Lines(proc.stderr), f"{port.link}: open at")
        port.send("D", "cmd-1", 41, vwc=10.0)
        deadline = time.monotonic() + 10
        while not (state / "status.json").exists() or "cmd-1" not in (
            state / "status.json"
        ).read_text():
            assert time.monotonic() < deadline, "node never showed in the status file"
            time.sleep(0.1)
        cli = gateway("command", "cmd-1", "interval", "--value", "30", "--state-dir", str(state))
        frame = port.read_line(timeout=15)
        assert frame.startswith(b"$SG,C,cmd-1,1,cmd=interval,v=30")
        port.send("A", "cmd-1", 42, cseq=1, ok=1)
        out, err = cli.communicate(timeout=30)
        assert cli.returncode == 0, err
        answer = json.loads(out)
        assert answer["status"] == "acked" and answer["cseq"] == 1 and answer["node"] == "cmd-1"

        unknown = gateway("command", "nobody", "ping", "--state-dir", str(state))
        out, _ = unknown.communicate(timeout=30)
        assert unknown.returncode == 1 and json.loads(out)["status"] == "no_route"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert not (state / "control.sock").exists()
    finally:
        end(proc)
        port.close()
    nobody = gateway("command", "cmd-1", "ping", "--state-dir", str(state))
    _, err = nobody.communicate(timeout=30)
    assert nobody.returncode == 1 and b"no running gateway" in err


def test_status_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """Regression: ``siaga-gateway status | head -1`` ended in a BrokenPipeError traceback."""
    nodes = {f"node-{i:05}": {"frames": i} for i in range(20_000)}  # more than a pipe holds
    (tmp_path / "status.json").write_text(json.dumps(
        {"gateway": "gw-1", "pid": 1, "updated_at": time.time(), "totals": {}, "nodes": nodes}))
    for extra in ((), ("--json",)):
        proc = gateway("status", "--state-dir", str(tmp_path), *extra)
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith((b"gateway gw-1", b"{"))
        proc.stdout.close()  # what head does after its first line
        assert proc.wait(30) == 141
        assert proc.stderr.read() == b""
        proc.stderr.close()


def test_status_of_a_live_then_killed_gateway(tmp_path: Path) -> None:
    """Issue 12 case 10: a SIGKILLed gateway (its status file and control socket left
    behind) was reported running with exit 0; text mode showed no buffer or uplink."""
    port = VirtualPort(tmp_path / "ttyST0")
    state = tmp_path / "state"
    config = tmp_path / "gw.toml"
    config.write_text(
        f'[gateway]\nid = "gw-status"\nstate_dir = "{state}"\nstatus_write_s = 0.5\n'
        f'[serial]\nports = ["{port.link}"]\n'
        '[uplink]\nkind = "http"\nurl = "http://127.0.0.1:9"\ntoken = "t"\n'
        "backoff_min_s = 0.1\nbackoff_max_s = 0.2\n")
    proc = gateway("run", "--config", str(config))
    try:
        err = Lines(proc.stderr)
        wait_for_log(err, f"{port.link}: open at")
        port.send("D", "st-1", 1, vwc=40.25)
        deadline = time.monotonic() + 20
        while True:
            live = subprocess.run(
                [sys.executable, "-m", "siaga.gateway", "status", "--state-dir", str(state)],
                capture_output=True, text=True, cwd=ROOT, timeout=30)
            if "buffer: depth 1" in live.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        proc.kill()
        proc.wait(10)
    finally:
        end(proc)
        port.close()
    assert live.returncode == 0, live.stdout + live.stderr
    assert live.stdout.startswith("gateway gw-status pid ")
    assert "buffer: depth 1 (alerts 0)" in live.stdout
    assert "uplink http: " in live.stdout and "send_errors=" in live.stdout
    dead = subprocess.run(
        [sys.executable, "-m", "siaga.gateway", "status", "--state-dir", str(state)],
        capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert dead.returncode == 3
    assert dead.stdout.startswith("gateway gw-status NOT RUNNING: pid ")
    assert "buffer: depth 1" in dead.stdout  # what it left behind
    as_json = subprocess.run(
        [sys.executable, "-m", "siaga.gateway", "status", "--json", "--state-dir", str(state)],
        capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert as_json.returncode == 3 and json.loads(as_json.stdout)["state"] == "not running"


def test_status_into_a_pipe_closed_before_it_writes_exits_quietly(tmp_path: Path) -> None:
    """``status | head -1`` with a small status: the write happened at interpreter exit,
    outside the BrokenPipeError guard, and printed a traceback."""
    (tmp_path / "status.json").write_text(json.dumps(
        {"gateway": "gw-1", "pid": os.getpid(), "updated_at": time.time(), "totals": {}}))
    read_end, write_end = os.pipe()
    os.close(read_end)  # head has already gone
    proc = subprocess.Popen(
        [sys.executable, "-m", "siaga.gateway", "status", "--state-dir", str(tmp_path)],
        stdout=write_end, stderr=subprocess.PIPE, cwd=ROOT)
    os.close(write_end)
    _, err = proc.communicate(timeout=30)
    assert err == b""
    assert proc.returncode == 141
