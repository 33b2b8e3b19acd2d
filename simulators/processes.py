"""Run Siaga's own programs as child processes: the demo's and the end-to-end test's runner.

``Children`` starts each process in its own session with its output in ``<logs>/<name>.log``
and stops them all in reverse order; ``run_cli`` runs one CLI call and returns its stdout;
``wait_healthy`` waits for a hub's ``/healthz`` while watching the children. Dev tooling:
product code never imports it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Children:
    """Every process started here, stopped in reverse order (its own process group each)."""

    logs: Path
    cwd: Path | None = None
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], stdout: int | IO[bytes] | None = None,
              stdin: int | None = None) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(argv, stdout=stdout if stdout is not None else log,
                                    stderr=log,
                                    stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                    start_new_session=True, cwd=self.cwd)
        self.procs.append((name, proc))
        return proc

    def check(self) -> str | None:
        """What a child that died on its own said last, if any died."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                log = self.logs / f"{name}.log"
                tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:])
                return f"{name} exited with {proc.returncode}; the end of {log}:\n{tail}"
        return None

    def stop(self, grace_s: float = 15) -> dict[str, int]:
        """SIGTERM to all, SIGKILL to what is left after ``grace_s``; the exit codes by name."""
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        codes = {}
        for name, proc in reversed(self.procs):
            try:
                codes[name] = proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                codes[name] = proc.wait()
        return codes


def run_cli(argv: list[str], stdin: str | None = None, cwd: Path | None = None) -> str:
    """Run one CLI call to its end; its stdout, or RuntimeError with its stderr if it failed."""
    out = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=cwd)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed: {out.stderr.strip()}")
    return out.stdout


def wait_healthy(url: str, children: Children, timeout: float = 60) -> None:
    """Until ``url``/healthz answers 200; RuntimeError if a child dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        died = children.check()
        if died:
            raise RuntimeError(died)
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the hub did not answer {url}/healthz within {timeout:.0f}s")
