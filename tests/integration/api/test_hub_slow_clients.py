"""Issue 12 case 6: slow and idle clients against a real ``siaga-hub serve`` over raw sockets.

Half-sent headers and stalled bodies are closed within their bound (api/connection_guard.py),
and 600 half-sent requests at a descriptor limit of 512 (where the hub used to become
unreachable) leave it answering."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from siaga.simulators.servers import HubProcess

pytestmark = pytest.mark.integration

HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def quick_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    hub = HubProcess(tmp_path_factory.mktemp("slow-clients"), f"""
[server]
header_timeout_s = {HEADER_TIMEOUT_S}
body_timeout_s = {BODY_TIMEOUT_S}
""")
    hub.start()
    yield hub
    hub.stop()


def _connect(hub: HubProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", hub.port), timeout=30)


def _seconds_until_closed(sock: socket.socket, trickle: bytes = b"") -> float:
    """Time until the hub closes ``sock``, sending one byte of ``trickle`` every 0.5 s."""
    started = time.monotonic()
    sock.settimeout(0.5)
    for i in range(120):
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        if i < len(trickle):
            try:
                sock.send(trickle[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
    return time.monotonic() - started


def _status(sock: socket.socket) -> int:
    """Read one whole response (head and Content-Length body); its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1])


def _healthz(hub: HubProcess, timeout: float = 10.0) -> int:
    with socket.create_connection(("127.0.0.1", hub.port), timeout=timeout) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
        return _status(sock)


def test_half_sent_headers_are_closed_within_the_header_timeout(quick_hub: HubProcess) -> None:
    with _connect(quick_hub) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
        # a byte every 0.5 s would keep a per-read timeout happy for ever
        took = _seconds_until_closed(sock, trickle=b"X-Slow: " + b"a" * 200)
    assert HEADER_TIMEOUT_S - 0.1 <= took < HEADER_TIMEOUT_S + 8


def test_a_silent_connection_is_closed_within_the_header_timeout(quick_hub: HubProcess) -> None:
    with _connect(quick_hub) as sock:
        took = _seconds_until_closed(sock)
    assert HEADER_TIMEOUT_S - 0.1 <= took < HEADER_TIMEOUT_S + 8


def test_a_stalled_body_is_closed_within_the_body_timeout(quick_hub: HubProcess) -> None:
    with _connect(quick_hub) as sock:
        sock.sendall(b"POST /api/v1/auth/token HTTP/1.1\r\nHost: hub\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 1000\r\n\r\nusername=a")
        took = _seconds_until_closed(sock)
    assert BODY_TIMEOUT_S - 0.1 <= took < BODY_TIMEOUT_S + 8


def test_a_complete_request_after_a_slow_start_is_answered(quick_hub: HubProcess) -> None:
    """The header clock runs per request: a client quick enough is served, and so is its
    next request on the same kept-alive connection."""
    with _connect(quick_hub) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            time.sleep(HEADER_TIMEOUT_S / 2)
            sock.sendall(b"Host: hub\r\n\r\n")
            assert _status(sock) == 200


def test_600_half_sent_requests_at_512_descriptors_leave_the_hub_reachable(
        tmp_path: Path) -> None:
    # A long header timeout: only the connection cap can keep the hub reachable here.
    hub = HubProcess(tmp_path, "[server]\nheader_timeout_s = 120\nmax_connections = 400\n",
                     nofile=512)
    hub.start()
    slow: list[socket.socket] = []
    try:
        for _ in range(600):
            sock = socket.create_connection(("127.0.0.1", hub.port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
            slow.append(sock)
        time.sleep(1.0)  # let the hub accept what it will
        assert _healthz(hub) == 200
        assert _healthz(hub) == 200
        assert hub.proc is not None and hub.proc.poll() is None
        # the cap held: the oldest half-sent requests were closed to make room
        closed = 0
        for sock in slow[:150]:
            sock.settimeout(5)
            try:
                closed += sock.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass
        assert closed == 150
    finally:
        for sock in slow:
            sock.close()
        hub.stop()
