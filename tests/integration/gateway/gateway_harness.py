"""Real pseudo-terminals standing in for USB-serial nodes, and a capture of the gateway's stdout.

``VirtualPort`` is a pty whose slave is reached through a symlink, so a test can
"unplug" it (close the master: the gateway's reads fail like a yanked USB cable)
and "plug it back" as a new pty behind the same name (a re-enumerated device).
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
import tty
from pathlib import Path
from typing import Any

from siaga.firmware_bridge.codec import Frame, encode_frame
from siaga.gateway.runtime import GatewayRuntime


class VirtualPort:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = -1
        self.slave = -1
        self.plug()

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        # Raw from the start: bytes written before the gateway opens the port must not
        # be echoed or cooked by the line discipline.
        tty.setraw(self.slave)
        tmp = self.link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(self.slave))
        os.replace(tmp, self.link)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)
        self.master = self.slave = -1
        self.link.unlink(missing_ok=True)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def send(self, type_: str, node: str, seq: int, **fields: Any) -> bytes:
        frame = encode_frame(Frame(type_, node, seq, dict(fields)))
        self.write(frame)
        return frame

    def read_line(self, timeout: float = 5.0) -> bytes:
        """One line the gateway wrote to the node (a command frame)."""
        buf = b""
        deadline = time.monotonic() + timeout
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [], left)[0]:
                raise TimeoutError(f"no line from the gateway within {timeout}s: {buf!r}")
            buf += os.read(self.master, 1)
        return buf

    def close(self) -> None:
        if self.master >= 0:
            self.unplug()


class CapturedStdout:
    """The binary stream the gateway prints JSON lines to, parsed as they come."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self._pending = b""
        self._cond = threading.Condition()

    def write(self, data: bytes) -> int:
        with self._cond:
            self._pending += data
            *done, self._pending = self._pending.split(b"\n")
            self.lines.extend(json.loads(line) for line in done if line)
            self._cond.notify_all()
        return len(data)

    def flush(self) -> None:
        pass

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self._cond:
            return [line for line in self.lines if line["kind"] == kind]

    def wait_for(self, kind: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [line for line in self.lines if line["kind"] == kind]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"wanted {count} {kind} lines, got {len(found)}: "
                                         f"{self.lines[-5:]}")
                self._cond.wait(left)


def wait_open(runtime: GatewayRuntime, path: str) -> None:
    """pyserial discards input waiting at open, like a UART: write only once it is open."""
    assert runtime.serial is not None
    deadline = time.monotonic() + 10
    while True:
        reader = runtime.serial.writer(f"serial:{path}")
        if reader is not None and reader.is_open:
            return
        assert time.monotonic() < deadline, f"gateway did not open {path}"
        time.sleep(0.01)
