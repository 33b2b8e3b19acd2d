"""SDI-12 source: one ``Sdi12Poller`` thread per adapter (``[[sdi12.bus]]``).

The pollers hand the core the same ``NodeMessage`` records every source does;
``snapshot()`` adds each sensor's bus counters to the status file.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from siaga.gateway.sdi12.poller import Sdi12Poller
from siaga.gateway.sdi12.settings import Sdi12Settings
from siaga.gateway.sources.polled_bus import PolledBusSource


class Sdi12Source(PolledBusSource[Sdi12Poller]):
    def __init__(self, settings: Sdi12Settings, out: queue.Queue[Any],
                 stop: threading.Event) -> None:
        super().__init__([Sdi12Poller(bus, out, stop, table_alert_after=settings.alert_after)
                          for bus in settings.buses],
                         lambda p: f"{len(p.sensors)} sensors")
