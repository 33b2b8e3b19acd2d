"""uvicorn's HTTP/1.1 protocol (h11) with the limits it lacks: header time, body pauses, a
connection cap that an idle crowd cannot fill (issue 12, case 6; docs/security.md).

uvicorn times out only an idle keep-alive connection: a client that sends half a request
line, or half a body, holds its socket for ever, and ``limit_concurrency`` counts those
sockets too, so a few hundred slow clients make the hub answer 503 to everyone, or leave it
without file descriptors to accept with. Here:

- **header time**: a request's line and headers must be complete within
  ``header_timeout_s`` of its first byte (of the connection, for the first request),
  however slowly they trickle; otherwise the connection is closed.
- **body pauses**: while a request body is still arriving, a pause longer than
  ``body_timeout_s`` closes the connection (the route sees a disconnect).
- **connection cap**: at ``max_connections`` open connections, a new one evicts the oldest
  connection that has no request running (half-sent headers or idle keep-alive); only when
  every connection is busy with a request is the newcomer answered 503. So a crowd of slow
  or idle clients can hold at most the cap, and a real request still gets through.

Header size is h11's ``max_incomplete_event_size`` (``server.max_header_bytes``).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from siaga.api.settings import ServerSettings

__all__ = ["RESERVED_DESCRIPTORS", "connection_limit", "guarded_protocol"]

log = logging.getLogger(__name__)

# Descriptors the hub needs besides client sockets: databases, log files, the MQTT client,
# InfluxDB connections, the listening socket.
RESERVED_DESCRIPTORS = 64

_BUSY_TEXT = b"too many open connections\n"
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
         b"retry-after: 1\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
         % (len(_BUSY_TEXT), _BUSY_TEXT))


class _GuardedH11(H11Protocol):
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self.opened_at = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.opened_at = self.loop.time()
        super().connection_made(transport)
        self._arm_header_timer()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            self._arm_header_timer()  # the first byte of a next request on a kept-alive link
        super().data_received(data)
        if self.busy:
            self._cancel(self._header_timer)
            self._header_timer = None
            if self.cycle.more_body:
                self._arm_body_timer()
            else:
                self._cancel(self._body_timer)
                self._body_timer = None

    @property
    def busy(self) -> bool:
        """A request is running on this connection (its headers are complete)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._expired,
                                                      "headers")

    def _arm_body_timer(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = self.loop.call_later(self.body_timeout_s, self._body_expired)

    def _body_expired(self) -> None:
        self._body_timer = None
        if self.busy and self.cycle.more_body:
            self._expired("body")

    def _expired(self, what: str) -> None:
        if what == "headers":
            self._header_timer = None
            if self.busy:
                return
        log.info("closing the connection of %s: %s not complete in time", self.client, what)
        self.transport.close()

    def _make_room(self) -> None:
        idle = [c for c in self.connections
                if isinstance(c, _GuardedH11) and c is not self and not c.busy]
        if idle:
            oldest = min(idle, key=lambda c: c.opened_at)
            oldest.transport.close()
            oldest.connections.discard(oldest)
            return
        log.warning("%d connections, all busy: refusing %s", len(self.connections), self.client)
        self.connections.discard(self)
        self.transport.write(_BUSY)
        self.transport.close()

    def _cancel_timers(self) -> None:
        self._cancel(self._header_timer)
        self._cancel(self._body_timer)
        self._header_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


def guarded_protocol(server: ServerSettings, max_connections: int) -> type[H11Protocol]:
    """The protocol class uvicorn is given (``uvicorn.Config(http=...)``)."""
    return type("GuardedH11Protocol", (_GuardedH11,), {
        "header_timeout_s": server.header_timeout_s,
        "body_timeout_s": server.body_timeout_s,
        "max_connections": max_connections,
    })


def connection_limit(server: ServerSettings) -> int:
    """``server.max_connections``, lowered to fit the process's descriptor limit (raised
    first to its hard limit), so accepting never fails for want of a descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = server.max_connections + RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted:
        fitted = max(1, soft - RESERVED_DESCRIPTORS)
        log.warning("server.max_connections = %d does not fit the descriptor limit %d; "
                    "using %d (raise LimitNOFILE in the systemd unit)",
                    server.max_connections, soft, fitted)
        return fitted
    return server.max_connections
