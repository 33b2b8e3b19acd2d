"""The InfluxDB writer's HTTP/1.1 client (api/telemetry/influx_http.py) against a scripted
server on a real loopback socket: keep-alive, answers with and without length, connections
the server closed, hung and abandoned requests. Writes to a real influxd go through it in
tests/integration/api/test_telemetry_contract.py and test_hub_backpressure.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from siaga.api.telemetry.influx_http import WriteConnections, WriteTransportError

pytestmark = pytest.mark.anyio

NO_CONTENT = b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6\r\n\r\n"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Server:
    """Reads each request (head and Content-Length body) and writes ``answer(n)`` for the
    n-th; ``None`` hangs. Counts connections; records requests."""

    def __init__(self, answer: Callable[[int], bytes | None]) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.server: asyncio.Server | None = None
        self.closed = asyncio.Event()
        self.close_after: set[int] = set()  # requests after which to hang up unannounced

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                reply = self.answer(len(self.requests))
                if reply is None:
                    await reader.read()  # hang until the client goes
                    return
                writer.write(reply)
                await writer.drain()
                if b"Connection: close" in reply or len(self.requests) in self.close_after:
                    return
        finally:
            writer.close()
            self.closed.set()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/prefix"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Callable[[int], bytes | None]], Server]]:
    servers: list[Server] = []

    def start(answer: Callable[[int], bytes | None]) -> Server:
        s = Server(answer)
        servers.append(s)
        return s

    yield start
    for s in servers:
        if s.server is not None:
            s.server.close()


async def started(s: Server, timeout_s: float = 5.0) -> WriteConnections:
    s.server = await asyncio.start_server(s.handle, "127.0.0.1", 0)
    return WriteConnections(s.url, "/write", {"db": "siaga", "precision": "ns"},
                            [("Authorization", "Token s3cret")], timeout_s)


async def test_posts_keep_one_connection_and_carry_target_headers_and_body(serve: Callable[
        [Callable[[int], bytes | None]], Server]) -> None:
    s = serve(lambda _n: NO_CONTENT)
    c = await started(s)
    for i in range(3):
        answer = await c.post(b"m v=%d 1" % i)
        assert (answer.status, answer.body) == (204, b"")
    c.close()
    assert s.connections == 1
    head, body = s.requests[2]
    assert head.startswith(b"POST /prefix/write?db=siaga&precision=ns HTTP/1.1\r\n")
    assert b"Authorization: Token s3cret\r\n" in head and b"Content-Length: 7\r\n" in head
    assert body == b"m v=2 1"


async def test_error_answers_are_read_whole_with_a_length_or_chunked(serve: Callable[
        [Callable[[int], bytes | None]], Server]) -> None:
    error = b'{"error":"field type conflict"}'
    answers = {
        1: b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(error), error),
        2: b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nbusy \r\n3\r\nnow\r\n0\r\n\r\n",
    }
    s = serve(lambda n: answers.get(n, NO_CONTENT))
    c = await started(s)
    first, second, third = [await c.post(b"m v=1 1") for _ in range(3)]
    c.close()
    assert (first.status, first.text) == (400, error.decode())
    assert (second.status, second.body) == (503, b"busy now")
    assert third.status == 204 and s.connections == 1


async def test_a_connection_the_server_closed_is_not_reused(serve: Callable[
        [Callable[[int], bytes | None]], Server]) -> None:
    s = serve(lambda n: NO_CONTENT[:-2] + b"Connection: close\r\n\r\n" if n == 1 else NO_CONTENT)
    c = await started(s)
    assert (await c.post(b"m v=1 1")).status == 204
    await asyncio.wait_for(s.closed.wait(), 5)
    assert (await c.post(b"m v=2 2")).status == 204
    c.close()
    assert s.connections == 2


async def test_an_idle_connection_closed_meanwhile_is_replaced(serve: Callable[
        [Callable[[int], bytes | None]], Server]) -> None:
    """influxd went away between two writes (a restart) without saying so: the kept
    connection is dead, and the next write takes a new one."""
    s = serve(lambda _n: NO_CONTENT)
    s.close_after = {1}
    c = await started(s)
    assert (await c.post(b"m v=1 1")).status == 204
    await asyncio.wait_for(s.closed.wait(), 5)
    await asyncio.sleep(0.05)  # the close reaches the client
    assert (await c.post(b"m v=2 2")).status == 204
    c.close()
    assert s.connections == 2


async def test_an_abandoned_request_closes_its_connection(serve: Callable[
        [Callable[[int], bytes | None]], Server]) -> None:
    """The ingest deadline cancels a write to a hung influxd: that connection is dropped
    (its answer might still come) and the next write takes a new one."""
    s = serve(lambda n: None if n == 1 else NO_CONTENT)
    c = await started(s)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(c.post(b"m v=1 1"), 0.2)
    await asyncio.wait_for(s.closed.wait(), 5)  # the server saw the client go
    assert (await c.post(b"m v=2 2")).status == 204
    c.close()
    assert s.connections == 2


async def test_no_answer_within_the_timeout_and_no_server_are_transport_errors(serve: Callable[
        [Callable[[int], bytes | None]], Server]) -> None:
    s = serve(lambda _n: None)
    c = await started(s, timeout_s=0.2)
    with pytest.raises(WriteTransportError, match="no answer within 0.2 s"):
        await c.post(b"m v=1 1")
    assert s.server is not None
    s.server.close()
    await s.server.wait_closed()
    with pytest.raises(WriteTransportError, match="ConnectionRefusedError|OSError"):
        await c.post(b"m v=1 1")


async def test_a_reply_cut_short_is_a_transport_error(serve: Callable[
        [Callable[[int], bytes | None]], Server]) -> None:
    s = serve(lambda _n: b"HTTP/1.1 400 Bad Request\r\nContent-Length: 50\r\n"
                         b"Connection: close\r\n\r\nonly part")
    c = await started(s)
    with pytest.raises(WriteTransportError, match="RemoteProtocolError"):
        await c.post(b"m v=1 1")
