"""A scripted stand-in for influxd's v1 HTTP API on a real loopback socket (h11), so the
store's own clients (httpx for /ping and /query, api/telemetry/influx_http.py for /write) do
what they do against influxd. A fake only because a real influxd cannot be made to answer
/write with 503, 429 or 400 on demand, hang up without answering, or never answer; writes and
queries against a real influxd are in tests/integration/api/test_telemetry_contract.py.

``/ping`` answers 204, ``/query`` an empty result, ``/write`` the next of ``answers`` (then
204), or ``answer(request)``: a status, ``HANG_UP`` (close without an answer) or ``STALL``
(never answer; hang up once the client goes).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

import h11

HANG_UP = "hang up"
STALL = "stall"
WriteAnswer = int | Literal["hang up", "stall"]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes


class InfluxStandIn:
    def __init__(self, answers: Iterable[WriteAnswer] = (),
                 answer: Callable[[Request], WriteAnswer] | None = None) -> None:
        self.answers = list(answers)
        self.answer = answer
        self.requests: list[Request] = []
        self.writes: list[bytes] = []  # the bodies of the writes answered 204
        self._server: asyncio.Server | None = None

    async def start(self) -> InfluxStandIn:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def _write_answer(self, request: Request) -> WriteAnswer:
        if self.answer is not None:
            return self.answer(request)
        return self.answers.pop(0) if self.answers else 204

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        http = h11.Connection(h11.SERVER)
        try:
            while (request := await _next_request(http, reader)) is not None:
                self.requests.append(request)
                status: WriteAnswer = 204
                if request.path == "/query":
                    status = 200
                elif request.path == "/write":
                    status = self._write_answer(request)
                if status == STALL:
                    await reader.read()  # hang until the client goes
                    return
                if status == HANG_UP:
                    return
                if request.path == "/write" and status == 204:
                    self.writes.append(request.body)
                assert isinstance(status, int)
                writer.write(_response(http, status))
                await writer.drain()
                http.start_next_cycle()
        except (ConnectionError, h11.ProtocolError):
            pass
        finally:
            writer.close()


async def _next_request(http: h11.Connection, reader: asyncio.StreamReader) -> Request | None:
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            http.receive_data(await reader.read(65_536))
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            target = urlsplit(head.target.decode())
            return Request(head.method.decode(), target.path, dict(parse_qsl(target.query)),
                           {k.decode(): v.decode() for k, v in head.headers}, bytes(body))
        elif isinstance(event, h11.ConnectionClosed):
            return None


def _response(http: h11.Connection, status: int) -> bytes:
    body = b""
    if status == 200:
        body = json.dumps({"results": [{"statement_id": 0}]}).encode()
    elif status != 204:
        body = json.dumps({"error": f"status {status}"}).encode()
    headers = [("Content-Type", "application/json")]
    if status != 204:
        headers.append(("Content-Length", str(len(body))))
    return b"".join(data for data in (
        http.send(h11.Response(status_code=status, headers=headers)),
        http.send(h11.Data(data=body)) if body else b"",
        http.send(h11.EndOfMessage()),
    ) if data)
