"""Modbus source: one ``BusPoller`` thread per configured bus (``[[modbus.bus]]``).

The pollers hand the core the same ``NodeMessage`` records the serial and MQTT
sources do, so Modbus devices get the same per-node state, counters, detection and
status; ``snapshot()`` adds each device's bus counters to the status file.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from siaga.gateway.modbus.poller import BusPoller
from siaga.gateway.modbus.settings import ModbusSettings


class ModbusSource:
    def __init__(
        self, settings: ModbusSettings, out: queue.Queue[Any], stop: threading.Event
    ) -> None:
        self.pollers = [BusPoller(bus, out, stop) for bus in settings.buses]

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for poller in self.pollers:
            poller.join(max(0.0, deadline - time.monotonic()))

    def describe(self) -> str:
        return ", ".join(f"{p.bus.name} ({len(p.devices)} devices)" for p in self.pollers)

    def snapshot(self) -> dict[str, Any]:
        """Per bus, per device: polls, ok, timeouts, crc_errors, exceptions, down, ..."""
        return {p.bus.source: p.snapshot() for p in self.pollers}
