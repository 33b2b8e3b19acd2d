"""An uplink (or a server) started for a block and stopped after it, in the uplink tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Protocol


class Stoppable(Protocol):
    def stop(self) -> object: ...


class Startable(Stoppable, Protocol):
    def start(self) -> object: ...


@contextmanager
def running(part: Startable, *then_stop: Stoppable) -> Iterator[None]:
    """``part`` started for the block; after it, also when it or a start or stop fails,
    ``part`` stopped and then each of ``then_stop`` (started by the test before: a hub
    stand-in, a relay)."""
    with ExitStack() as stack:
        for other in reversed(then_stop):
            stack.callback(other.stop)
        part.start()
        stack.callback(part.stop)
        yield
