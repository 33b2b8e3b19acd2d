"""SDI-12 source: one ``Sdi12Poller`` thread per adapter (``[[sdi12.bus]]``).

The pollers hand the core the same ``NodeMessage`` records every source does;
``snapshot()`` adds each sensor's bus counters to the status file.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from siaga.gateway.sdi12.poller import Sdi12Poller
from siaga.gateway.sdi12.settings import Sdi12Settings


class Sdi12Source:
    def __init__(self, settings: Sdi12Settings, out: queue.Queue[Any],
                 stop: threading.Event) -> None:
        self.pollers = [Sdi12Poller(bus, out, stop) for bus in settings.buses]

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for poller in self.pollers:
            poller.join(max(0.0, deadline - time.monotonic()))

    def describe(self) -> str:
        return ", ".join(f"{p.bus.name} ({len(p.sensors)} sensors)" for p in self.pollers)

    def snapshot(self) -> dict[str, Any]:
        return {p.bus.source: p.snapshot() for p in self.pollers}
