"""``siaga-gateway requeue-rejected`` on a real gateway's buffer file: rows the hub refused
(the HTTP stand-in answering 422) go back to pending with the gateway stopped, and the
gateway, started again, delivers them. Refused while the gateway runs."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.gateway.gateway_harness import VirtualPort
from tests.integration.gateway.hub_stand_in import HttpIngestServer, wait_for
from tests.integration.gateway.test_gateway_cli import ROOT, Lines, end, gateway, wait_for_log

pytestmark = pytest.mark.integration


def count(path: Path, table: str) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        n: int = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        return n
    except sqlite3.OperationalError:  # not created yet
        return -1
    finally:
        db.close()


def requeue(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "siaga.gateway", "requeue-rejected", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=30)


def test_rejected_rows_requeued_with_the_gateway_stopped_reach_the_hub(tmp_path: Path) -> None:
    hub = HttpIngestServer().start()
    hub.fail_status, hub.fail_next = 422, 10**6  # refuses every batch for now
    port = VirtualPort(tmp_path / "ttyRQ0")
    state = tmp_path / "state"
    buffer = state / "buffer.sqlite3"
    config = tmp_path / "gw.toml"
    config.write_text(
        f'[gateway]\nid = "gw-requeue"\nstate_dir = "{state}"\nstatus_write_s = 0.5\n'
        f'[serial]\nports = ["{port.link}"]\n'
        f'[uplink]\nkind = "http"\nurl = "{hub.url}"\ntoken = "gw-secret"\n'
        "batch_max_age_s = 0.2\nbackoff_min_s = 0.1\nbackoff_max_s = 0.2\n")
    proc = gateway("run", "--config", str(config))
    try:
        err = Lines(proc.stderr)
        wait_for_log(err, f"{port.link}: open at")
        for seq in (1, 2, 3):
            port.send("D", "rq-1", seq, vwc=40.0 + seq)
        assert wait_for(lambda: count(buffer, "rejected") == 3, 20), count(buffer, "rejected")
        assert wait_for(lambda: (state / "status.json").exists(), 10)
        running = requeue("--state-dir", str(state))
        assert running.returncode == 1 and "running" in running.stderr, running
        dry = requeue("--state-dir", str(state), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.startswith("would move 3 rejected rows back to pending")
        assert count(buffer, "rejected") == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        end(proc)
    hub.fail_next = 0
    moved = requeue("--config", str(config), "--reason", "422")
    assert moved.returncode == 0, moved.stderr
    lines = moved.stdout.splitlines()
    assert lines[0] == f"moved 3 rejected rows back to pending in {buffer}:"
    assert lines[1].split()[0] == "3" and "422" in lines[1] and lines[1].endswith("(ids 1-3)")
    assert count(buffer, "rejected") == 0 and count(buffer, "pending") == 3
    again = gateway("run", "--config", str(config))
    try:
        assert hub.wait_until(lambda: hub.unique_readings == 3, 20), hub.unique_readings
        assert wait_for(lambda: count(buffer, "pending") == 0, 10)
        seqs = sorted(r["seq"] for b in hub.batches for r in b["readings"])
        assert seqs == [1, 2, 3]
    finally:
        again.send_signal(signal.SIGTERM)
        try:
            again.wait(20)
        finally:
            end(again)
            port.close()
            hub.stop()
