"""Buses the gateway polls itself (Modbus, SDI-12): one poller thread per bus, started,
joined and reported together, so each protocol's source is only its poller and its noun.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar


class _Bus(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def source(self) -> str: ...


class BusPollerThread(Protocol):
    @property
    def bus(self) -> _Bus: ...
    def start(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def snapshot(self) -> dict[str, Any]: ...


P = TypeVar("P", bound=BusPollerThread)


class PolledBusSource(Generic[P]):
    def __init__(self, pollers: Sequence[P], load: Callable[[P], str]) -> None:
        self.pollers = list(pollers)
        self._load = load

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for poller in self.pollers:
            poller.join(max(0.0, deadline - time.monotonic()))

    def describe(self) -> str:
        return ", ".join(f"{p.bus.name} ({self._load(p)})" for p in self.pollers)

    def snapshot(self) -> dict[str, Any]:
        """Per bus, per device or sensor: polls, ok, timeouts, errors, down, ..."""
        return {p.bus.source: p.snapshot() for p in self.pollers}
