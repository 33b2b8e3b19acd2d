"""LiveBus: incident events fanned out to live subscribers (the SSE stream), by agency.

``bus.publish(event, agencies)`` is called from the event loop by whoever changes an incident;
it never blocks and never awaits. Each subscriber has a bounded queue: one that falls
``live.queue_size`` events behind is dropped (told so by a last ``stream.overflow`` event when
it reads again) and the publisher carries on; the client reconnects with ``Last-Event-ID`` and
the replay ring (``live.replay`` recent events) gives it what it missed.

In the running hub the ids come from the database (:mod:`siaga.api.live_journal`, table
``live_events``): they keep growing across restarts, and the ring is filled from the table at
start (``resume``), so a client resuming after a restart misses nothing still held. With
several hub processes on PostgreSQL the bus of each is fed by
:class:`~siaga.api.cluster.Cluster` (``deliver``) with every process's events; on SQLite a
stream shows the events of its process. A client whose ``Last-Event-ID`` is older than what
the ring holds is sent ``stream.reload`` first: it must fetch its data again, then follow the
stream. (``publish`` numbers events itself: the bus alone, as in unit tests.)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from siaga.api.metrics import MetricsRegistry

__all__ = [
    "CLOSED", "FINAL", "OVERFLOW", "RELOAD", "UNAUTHORIZED", "LiveBus", "LiveEvent",
    "Subscription", "make_event", "unauthorized",
]

OVERFLOW = "stream.overflow"
CLOSED = "stream.closed"
UNAUTHORIZED = "stream.unauthorized"
# Sent first to a client resuming from an id the hub no longer holds; the stream goes on.
RELOAD = "stream.reload"
# Events that end a stream: the writer sends them, then closes.
FINAL = frozenset((OVERFLOW, CLOSED, UNAUTHORIZED))


@dataclass(frozen=True, slots=True)
class LiveEvent:
    id: int
    type: str
    data: Mapping[str, Any]
    agencies: frozenset[str]
    ts: float
    # The data as JSON, serialised once however many subscribers send it.
    json: str

    def visible_to(self, scope: frozenset[str] | None) -> bool:
        return scope is None or not scope.isdisjoint(self.agencies)


def make_event(id: int, data: Mapping[str, Any], agencies: frozenset[str],  # noqa: A002
               ts: float | None = None) -> LiveEvent:
    return LiveEvent(id=id, type=str(data.get("type", "event")), data=data, agencies=agencies,
                     ts=time.time() if ts is None else ts,
                     json=json.dumps(data, separators=(",", ":"), default=str))


def _final_event(dropped: bool) -> LiveEvent:
    if dropped:
        return make_event(0, {"type": OVERFLOW, "detail": "this client fell behind and was "
                              "dropped; reconnect with Last-Event-ID to resume"}, frozenset())
    return make_event(0, {"type": CLOSED, "detail": "the hub is shutting down"}, frozenset())


def _reload_event(last_event_id: int) -> LiveEvent:
    return make_event(0, {"type": RELOAD, "last_event_id": last_event_id,
                          "detail": "events after this id are no longer held: fetch the "
                          "data again, then follow this stream"}, frozenset())


def unauthorized(reason: str) -> LiveEvent:
    """Ends a stream whose token expired or was revoked meanwhile."""
    return make_event(0, {"type": UNAUTHORIZED,
                          "detail": f"{reason}; log in again and reconnect"}, frozenset())


@dataclass(eq=False, slots=True)
class Subscription:
    """One live client. ``scope`` None sees every event (admins, see-all agencies)."""

    scope: frozenset[str] | None
    queue: asyncio.Queue[LiveEvent | None]
    # Events up to this id were sent before (Last-Event-ID): on PostgreSQL a client may resume
    # on a process that has not yet delivered the newest events it saw elsewhere.
    after: int = 0
    dropped: bool = False
    opened_at: float = field(default_factory=time.monotonic)

    async def next_batch(self, timeout: float) -> list[LiveEvent]:
        """The events queued now, waiting up to ``timeout`` s for one; [] when none came.

        Taking every queued event at once lets a busy stream send them in one write.
        After the subscription was dropped (or the bus closed) the last event is a
        ``stream.overflow`` (``stream.closed``) one, and the caller should end the stream.
        """
        if self.queue.empty():
            try:
                first = await asyncio.wait_for(self.queue.get(), timeout)
            except TimeoutError:
                return []
            items = [first]
        else:
            items = []
        while not self.queue.empty() and (not items or items[-1] is not None):
            items.append(self.queue.get_nowait())
        events = [i for i in items if i is not None]
        if items[-1] is None:
            events.append(_final_event(self.dropped))
        return events

    async def next(self, timeout: float) -> LiveEvent | None:
        """One event, or None after ``timeout`` seconds without one (see next_batch)."""
        if self.queue.empty():
            try:
                item = await asyncio.wait_for(self.queue.get(), timeout)
            except TimeoutError:
                return None
        else:
            item = self.queue.get_nowait()
        return _final_event(self.dropped) if item is None else item


class LiveBus:
    def __init__(self, queue_size: int = 256, replay: int = 1000,
                 metrics: MetricsRegistry | None = None) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._recent: deque[LiveEvent] = deque(maxlen=replay)
        self._next_id = 1
        # Every event with a larger id is in the ring (or still to come).
        self._horizon = 0
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
        live = make_event(self._next_id, dict(event), frozenset(agencies))
        self.deliver(live)
        return live

    def resume(self, recent: Collection[LiveEvent]) -> None:
        """Start from the newest events kept in the database (ascending ids), at start-up."""
        events = sorted(recent, key=lambda e: e.id)[-self._recent.maxlen:] \
            if self._recent.maxlen else []
        self._recent.clear()
        self._recent.extend(events)
        if events:
            self._horizon = events[0].id - 1
            self._next_id = max(self._next_id, events[-1].id + 1)

    async def flush(self) -> None:
        """Nothing to wait for: ``publish`` delivers at once (the journal's waits)."""

    def deliver(self, live: LiveEvent) -> None:
        """Fan out an event whose id was given elsewhere (the database's sequence)."""
        self._next_id = max(self._next_id, live.id + 1)
        if self._recent.maxlen == 0:
            self._horizon = live.id
        elif len(self._recent) == self._recent.maxlen:
            self._horizon = self._recent[0].id
        self._recent.append(live)
        self._published.inc(type=live.type)
        for sub in list(self._subscribers):
            if live.id <= sub.after or not live.visible_to(sub.scope):
                continue
            try:
                sub.queue.put_nowait(live)
            except asyncio.QueueFull:
                self._drop(sub)

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
        """A new subscription; with ``last_event_id``, first the missed events still kept,
        or ``stream.reload`` when some of them are no longer kept."""
        sub = Subscription(scope=scope, queue=asyncio.Queue(self._queue_size),
                           after=last_event_id or 0)
        if last_event_id is not None:
            missed = [e for e in self._recent if e.id > last_event_id and e.visible_to(scope)]
            if last_event_id < self._horizon or len(missed) > self._queue_size:
                sub.queue.put_nowait(_reload_event(last_event_id))
            else:
                for e in missed:
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
