"""What every simulated line of sensors is (``ModbusSlaveLine``, ``Sdi12SensorLine``).

A line serves some nodes and keeps the latest value of each of their channels: a feed
(``sensor_feed.ScenarioFeed``) sets them from any thread and the line's own server thread
reads them when a request comes. It starts and closes, also as a context manager, and the
gateway opens it through a raw pseudo-terminal.
"""

from __future__ import annotations

import os
import threading
import tty
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Self

from siaga.simulators.errors import TransportError


class SensorLine(ABC):
    def __init__(self, nodes: Iterable[str]) -> None:
        # Also guards each line's own fault switches.
        self._lock = threading.Lock()
        self._values: dict[str, dict[str, float]] = {node: {} for node in nodes}

    @property
    def nodes(self) -> frozenset[str]:
        return frozenset(self._values)

    def set_values(self, node: str, values: Mapping[str, float]) -> None:
        with self._lock:
            self._values[node].update(values)

    def values_of(self, node: str) -> dict[str, float]:
        """A copy of ``node``'s latest values (empty until a feed has set some)."""
        with self._lock:
            return dict(self._values[node])

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_raw_pty() -> tuple[int, int]:
    """(master, slave) of a new pseudo-terminal, the slave raw as a serial adapter's line."""
    try:
        master, slave = os.openpty()
    except OSError as e:
        raise TransportError(f"cannot open a pseudo-terminal: {e}") from e
    tty.setraw(slave)
    return master, slave
