"""One gateway per state dir (gateway/state_dir_lock.py), with real processes: a running
gateway holds ``state_dir/gateway.lock``, so ``requeue-rejected`` refuses even while the
status file names a dead process (as it does until a new gateway's first status write),
and a second gateway on the same state dir exits at start with a clear error."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.integration.gateway.gateway_harness import VirtualPort
from tests.integration.gateway.hub_stand_in import HttpIngestServer, wait_for
from tests.integration.gateway.test_gateway_cli import Lines, end, gateway, wait_for_log
from tests.integration.gateway.test_gateway_requeue import requeue

pytestmark = pytest.mark.integration


def test_a_running_gateway_holds_its_state_dir(tmp_path: Path) -> None:
    hub = HttpIngestServer().start()
    port = VirtualPort(tmp_path / "ttyLK0")
    state = tmp_path / "state"
    config = tmp_path / "gw.toml"
    # status_write_s 60: after its first write the status file stays as the test leaves it
    config.write_text(
        f'[gateway]\nid = "gw-lock"\nstate_dir = "{state}"\nstatus_write_s = 60\n'
        f'[serial]\nports = ["{port.link}"]\n'
        f'[uplink]\nkind = "http"\nurl = "{hub.url}"\ntoken = "gw-secret"\n')
    proc = gateway("run", "--config", str(config))
    try:
        err = Lines(proc.stderr)
        wait_for_log(err, f"{port.link}: open at")
        assert wait_for(lambda: (state / "status.json").exists(), 10)
        # What a new gateway's state dir holds until its first tick: the last, dead pid.
        (state / "status.json").write_text(json.dumps({"pid": 2**22 + 1, "updated_at": 0}))
        refused = requeue("--state-dir", str(state))
        assert refused.returncode == 1, refused
        assert "a gateway is running on state dir" in refused.stderr, refused.stderr
        assert requeue("--state-dir", str(state), "--dry-run").returncode == 0
        second = gateway("run", "--config", str(config))
        try:
            assert second.wait(30) == 1
            assert second.stderr is not None
            assert b"cannot start: a gateway is running on state dir" in second.stderr.read()
        finally:
            end(second)
        assert proc.poll() is None  # the first one runs on
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        end(proc)
        port.close()
        hub.stop()
    moved = requeue("--state-dir", str(state))  # stopped: the lock is free
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.startswith("moved 0 rejected rows")
