"""The status file: the core's counters and node table, written atomically to the state dir.

``siaga-gateway status`` reads it from another process; a write goes to a temporary
file in the same directory and is renamed over the old one, so a reader never sees
half a file. A file outlives its gateway, so the reader judges whether its writer still
runs (``liveness``): the pid must be a live gateway process, and the file fresh.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# A status file older than this many write intervals (plus STALE_GRACE_S) is stale: the
# gateway's core is stuck or the process is gone.
STALE_INTERVALS = 3
STALE_GRACE_S = 5.0
DEFAULT_WRITE_S = 5.0

State = Literal["running", "stale", "not running"]


@dataclass(frozen=True, slots=True)
class Liveness:
    state: State
    why: str


def write_status(path: Path, status: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".status-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(status, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_status(path: Path) -> dict[str, Any]:
    with path.open() as f:
        data: dict[str, Any] = json.load(f)
    return data


def liveness(status: dict[str, Any], now: float) -> Liveness:
    """Whether the gateway that wrote ``status`` still runs (reads /proc, signals nothing)."""
    pid = status.get("pid")
    age = now - float(status.get("updated_at", 0))
    if not isinstance(pid, int) or pid <= 0 or not _is_gateway_process(pid):
        return Liveness("not running", f"pid {pid} is gone; last status {age:.0f} s ago")
    every = status.get("status_write_s", DEFAULT_WRITE_S)
    if age > STALE_INTERVALS * float(every) + STALE_GRACE_S:
        return Liveness("stale", f"pid {pid} runs but wrote no status for {age:.0f} s "
                                 f"(every {every} s expected)")
    return Liveness("running", f"pid {pid}")


def _is_gateway_process(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's (root reading a service's file)
        pass
    try:  # a pid reused by another program is not our gateway
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to ask: trust the signal
    return b"gateway" in cmdline
