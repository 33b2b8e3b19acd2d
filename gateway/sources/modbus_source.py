"""Modbus source: one ``BusPoller`` thread per configured bus (``[[modbus.bus]]``).

The pollers hand the core the same ``NodeMessage`` records the serial and MQTT
sources do, so Modbus devices get the same per-node state, counters, detection and
status; ``snapshot()`` adds each device's bus counters to the status file.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from siaga.gateway.modbus.poller import BusPoller
from siaga.gateway.modbus.settings import ModbusSettings
from siaga.gateway.sources.polled_bus import PolledBusSource


class ModbusSource(PolledBusSource[BusPoller]):
    def __init__(self, settings: ModbusSettings, out: queue.Queue[Any],
                 stop: threading.Event) -> None:
        super().__init__([BusPoller(bus, out, stop, table_alert_after=settings.alert_after)
                          for bus in settings.buses],
                         lambda p: f"{len(p.devices)} devices")
