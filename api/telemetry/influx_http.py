"""The InfluxDB writer's HTTP/1.1 client: keep-alive connections on asyncio streams, the
protocol by h11 (the parser uvicorn and httpcore use).

Why not the store's ``httpx`` client: a ``POST /write`` of 500 points cost the hub ~1.2 ms of
CPU through httpx (client) and ~0.8 ms through its transport (httpcore, anyio), against
~0.4 ms here (measured against a real influxd, same minute; issue 17). At the gateway's
default 500-reading batches that was ~1.6 us of the hub's ~10 us per reading. Queries, with
their larger answers and rarer calls, stay on httpx.

A connection is reused only after a complete exchange; a failure, a timeout or a cancelled
request (the ingest deadline abandoning a write) closes it, so no half-read answer is ever
taken for the next one's.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import h11

__all__ = ["Answer", "WriteConnections", "WriteTransportError"]

_READ_SIZE = 65_536


class WriteTransportError(Exception):
    """The request did not get an answer: connection refused or lost, timeout, broken reply."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    http: h11.Connection

    def reusable(self) -> bool:
        return (self.http.our_state is h11.IDLE and self.http.their_state is h11.IDLE
                and not self.reader.at_eof() and not self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class WriteConnections:
    """``POST`` to ``url``'s ``path`` (plus ``params``) with ``headers`` over kept-alive
    connections, one per request in flight."""

    def __init__(self, url: str, path: str, params: dict[str, str],
                 headers: list[tuple[str, str]], timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"InfluxDB url {url!r}: http:// or https:// and a host")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._target = f"{parts.path.rstrip('/')}{path}?{urlencode(params)}"
        self._headers = [("Host", parts.netloc), *headers]
        self._timeout_s = timeout_s
        self._idle: list[_Connection] = []

    async def post(self, body: bytes) -> Answer:
        """The answer to one POST; WriteTransportError when there was none."""
        conn = self._take_idle()
        try:
            async with asyncio.timeout(self._timeout_s):
                if conn is None:
                    conn = await self._connect()
                answer = await self._exchange(conn, body)
        except BaseException as e:  # cancelled or failed: the connection's state is unknown
            if conn is not None:
                conn.close()
            if isinstance(e, TimeoutError):
                raise WriteTransportError(f"no answer within {self._timeout_s} s") from None
            if isinstance(e, (OSError, EOFError, h11.ProtocolError)):
                raise WriteTransportError(f"{type(e).__name__}: {e}") from None
            raise
        if conn.reusable():
            self._idle.append(conn)
        else:
            conn.close()
        return answer

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable():  # influxd may have closed it meanwhile (a restart)
                return conn
            conn.close()
        return None

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self._host, self._port, ssl=self._ssl,
                                                       limit=_READ_SIZE)
        return _Connection(reader, writer, h11.Connection(h11.CLIENT))

    async def _exchange(self, conn: _Connection, body: bytes) -> Answer:
        http = conn.http
        request = h11.Request(method="POST", target=self._target,
                              headers=[*self._headers, ("Content-Length", str(len(body)))])
        conn.writer.write(http.send(request) + (http.send(h11.Data(data=body)) or b"")
                          + (http.send(h11.EndOfMessage()) or b""))
        status = 0
        chunks: list[bytes] = []
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                data = await conn.reader.read(_READ_SIZE)
                if not data and http.their_state is h11.SEND_RESPONSE:
                    raise EOFError("connection closed before the answer")
                http.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise EOFError("connection closed during the answer")
        if http.our_state is h11.DONE and http.their_state is h11.DONE:
            http.start_next_cycle()
        return Answer(status, b"".join(chunks))
