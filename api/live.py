"""LiveBus: incident events fanned out to live subscribers (the SSE stream), by agency.

``bus.publish(event, agencies)`` is called from the event loop by whoever changes an incident;
it never blocks and never awaits. Each subscriber has a bounded queue: one that falls
``live.queue_size`` events behind is dropped (told so by a last ``stream.overflow`` event when
it reads again) and the publisher carries on; the client reconnects with ``Last-Event-ID`` and
the replay ring (``live.replay`` recent events) gives it what it missed.

Event ids increase within one hub process; a bus is per process, so with several hub processes
a stream shows the events of the process serving it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from api.metrics import MetricsRegistry

__all__ = ["CLOSED", "FINAL", "OVERFLOW", "LiveBus", "LiveEvent", "Subscription"]

OVERFLOW = "stream.overflow"
CLOSED = "stream.closed"
# Events that end a stream: the writer sends them, then closes.
FINAL = frozenset((OVERFLOW, CLOSED))


@dataclass(frozen=True, slots=True)
class LiveEvent:
    id: int
    type: str
    data: Mapping[str, Any]
    agencies: frozenset[str]
    ts: float

    def visible_to(self, scope: frozenset[str] | None) -> bool:
        return scope is None or not scope.isdisjoint(self.agencies)


@dataclass(eq=False, slots=True)
class Subscription:
    """One live client. ``scope`` None sees every event (admins, see-all agencies)."""

    scope: frozenset[str] | None
    queue: asyncio.Queue[LiveEvent | None]
    dropped: bool = False
    opened_at: float = field(default_factory=time.monotonic)

    async def next(self, timeout: float) -> LiveEvent | None:
        """The next event, or None after ``timeout`` seconds without one.

        After the subscription was dropped (or the bus closed) this returns a
        ``stream.overflow`` (``stream.closed``) event, and the caller should end the stream.
        """
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if item is None:
            if not self.dropped:
                return LiveEvent(id=0, type=CLOSED, agencies=frozenset(), ts=time.time(),
                                 data={"type": CLOSED, "detail": "the hub is shutting down"})
            return LiveEvent(id=0, type=OVERFLOW, agencies=frozenset(), ts=time.time(), data={
                "type": OVERFLOW,
                "detail": "this client fell behind and was dropped; reconnect with "
                          "Last-Event-ID to resume",
            })
        return item


class LiveBus:
    def __init__(self, queue_size: int = 256, replay: int = 1000,
                 metrics: MetricsRegistry | None = None) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._recent: deque[LiveEvent] = deque(maxlen=replay)
        self._next_id = 1
        metrics = metrics or MetricsRegistry()
        self._published = metrics.counter(
            "siaga_live_events_total", "Events published on the live bus", ("type",))
        self._dropped = metrics.counter(
            "siaga_live_dropped_subscribers_total",
            "Live subscribers dropped because they fell behind")
        metrics.gauge("siaga_live_subscribers", "Open live stream subscriptions").set_function(
            lambda: len(self._subscribers))

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, event: Mapping[str, Any], agencies: Collection[str]) -> LiveEvent:
        """Send ``event`` (with a ``type`` key) to subscribers of any of ``agencies``."""
        kind = str(event.get("type", "event"))
        live = LiveEvent(id=self._next_id, type=kind, data=dict(event),
                         agencies=frozenset(agencies), ts=time.time())
        self._next_id += 1
        self._recent.append(live)
        self._published.inc(type=kind)
        for sub in list(self._subscribers):
            if not live.visible_to(sub.scope):
                continue
            try:
                sub.queue.put_nowait(live)
            except asyncio.QueueFull:
                self._drop(sub)
        return live

    def _drop(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        sub.dropped = True
        # Room for the end marker: the client resumes from the replay ring anyway.
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)
        self._dropped.inc()

    def subscribe(self, scope: frozenset[str] | None,
                  last_event_id: int | None = None) -> Subscription:
        """A new subscription; with ``last_event_id``, first the missed events still kept."""
        sub = Subscription(scope=scope, queue=asyncio.Queue(self._queue_size))
        if last_event_id is not None:
            missed = [e for e in self._recent if e.id > last_event_id and e.visible_to(scope)]
            for e in missed[-self._queue_size:]:
                sub.queue.put_nowait(e)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def close(self) -> None:
        """End every subscription (at shutdown)."""
        for sub in list(self._subscribers):
            self._subscribers.discard(sub)
            while not sub.queue.empty():
                sub.queue.get_nowait()
            sub.queue.put_nowait(None)
