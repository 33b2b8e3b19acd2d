"""Live runs: when each message is due on the wall clock, and the owner thread's inbox.

The thread that owns a scenario (its nodes and models) waits for the next
message's deadline on its inbox, where I/O threads post commands from the
gateway and the stop request; so it blocks, never polls, and stays the only
thread that touches the nodes.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

from siaga.simulators.node import VirtualNode


class SimClock:
    """Simulated ``sim_start`` happens now; simulated time runs ``speed`` times faster."""

    def __init__(self, sim_start: float, speed: float) -> None:
        self.sim_start = sim_start
        self.speed = speed
        self.wall_start = time.monotonic()

    def deadline(self, sim_ts: float) -> float:
        """The ``time.monotonic()`` at which ``sim_ts`` is due."""
        return self.wall_start + (sim_ts - self.sim_start) / self.speed


class RateClock:
    """Paces by count instead: the n-th message is due n / rate seconds after the start."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.wall_start = time.monotonic()
        self.count = 0

    def next_deadline(self) -> float:
        due = self.wall_start + self.count / self.rate
        self.count += 1
        return due


@dataclass(frozen=True, slots=True)
class Command:
    """A command the gateway sent a node (serial ``C`` frame or MQTT ``.../cmd``)."""

    node: str
    cseq: int
    cmd: str
    value: float | None = None


_STOP = object()


class Inbox:
    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue()

    def post(self, command: Command) -> None:
        self._queue.put(command)

    def stop(self) -> None:
        self._queue.put(_STOP)

    def wait_until(self, deadline: float, serve: Callable[[Command], None]) -> bool:
        """Serve commands until ``deadline`` (monotonic); False when told to stop."""
        while True:
            delay = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=delay) if delay > 0 else self._queue.get_nowait()
            except queue.Empty:
                return True
            if item is _STOP:
                self._queue.put(_STOP)  # later waits see it too
                return False
            assert isinstance(item, Command)
            serve(item)


def obey(node: VirtualNode, command: Command) -> bool:
    """Carry out a command on a node; whether the node accepts it (the ack's ``ok``).

    ``interval`` (``value`` seconds, >= 1) changes the sampling interval, ``reboot``
    reboots the node at its next step, ``ping`` and ``calib`` are only acknowledged.
    """
    if command.cmd == "interval" and command.value is not None and command.value >= 1:
        node.interval_s = float(command.value)
        return True
    if command.cmd == "reboot":
        node.reboot_now(node.next_ts, "command")
        return True
    return command.cmd in ("ping", "calib")
