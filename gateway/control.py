"""The control socket: ``siaga-gateway command`` talks to the running gateway through it.

A Unix socket ``control.sock`` in the state dir (mode 0600: only the gateway's user
and root may command nodes). One request per connection: a JSON line
``{"node": ..., "cmd": ..., "value": ...}`` answered, once the command is acked or
has failed, by a JSON line with the ``CommandResult``. Requests are served one at a
time in the server's own thread; commands are rare and each waits for its ack.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict
from pathlib import Path
from typing import Any

from siaga.gateway.downlink import CommandResult

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4096
ACCEPT_WAIT_S = 1.0

CommandFn = Callable[[str, str, float | None], Future[CommandResult]]


class ControlServer(threading.Thread):
    def __init__(self, path: Path, command: CommandFn, answer_within_s: float) -> None:
        super().__init__(name="control", daemon=True)
        self.path = path
        self._command = command
        self._answer_within_s = answer_within_s
        self._stop_event = threading.Event()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # left by a gateway that was killed
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self._server.bind(str(path))
        finally:
            os.umask(old)
        self._server.listen(4)
        self._server.settimeout(ACCEPT_WAIT_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(ACCEPT_WAIT_S * 2 + self._answer_within_s)
        self._server.close()
        self.path.unlink(missing_ok=True)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError as e:
                log.warning("control socket %s: %s", self.path, e)
                return
            with conn:
                conn.settimeout(self._answer_within_s + 5)
                try:
                    conn.sendall(json.dumps(self._serve(conn)).encode() + b"\n")
                except OSError as e:
                    log.warning("control socket: client went away: %s", e)

    def _serve(self, conn: socket.socket) -> dict[str, Any]:
        try:
            request = json.loads(read_line(conn))
            node, cmd = str(request["node"]), str(request["cmd"])
            value = request.get("value")
            if value is not None and not isinstance(value, int | float):
                raise ValueError("value must be a number")
        except (ValueError, KeyError, TypeError, OSError) as e:
            return {"status": "invalid", "detail": f"bad request: {e}"}
        try:
            return asdict(self._command(node, cmd, value).result(self._answer_within_s))
        except FutureTimeout:
            return {"status": "timeout", "detail": "the gateway did not answer in time"}


def read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(1024)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise ValueError("request too long")
    return data.split(b"\n", 1)[0]


def send_command(
    path: Path, node: str, cmd: str, value: float | None, timeout: float
) -> dict[str, Any]:
    """Client side, for the CLI; raises OSError when no gateway listens on ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(json.dumps({"node": node, "cmd": cmd, "value": value}).encode() + b"\n")
        answer: dict[str, Any] = json.loads(read_line(s))
        return answer
