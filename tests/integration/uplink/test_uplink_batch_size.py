"""The HTTP uplink's batch size (gateway/uplink/batch_sizer.py) against a real ``siaga-hub
serve``: a backlog over a fast link drains in batches grown to the ceiling; over a slow link
(a relay that carries the gateway's bytes at a few kB/s, like GPRS) batches stay at
``batch_max_count``; and when a link that grew them slows down, the grown batch that now
times out goes as halves instead of timing out for ever. Nothing is lost in any case.

The slow link is ``ThrottledRelay``, a real TCP relay in this module: no cellular modem
runs here. The hub and its gateway token serve the whole module (a hub start costs seconds).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.uplink.http_uplink import HttpUplink
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.servers import HubProcess
from tests.integration.gateway.hub_stand_in import wait_for
from tests.integration.uplink.test_uplink_mqtt import reading

pytestmark = pytest.mark.integration

GATEWAY = "gw-batch-size"
CHUNK = 256  # bytes the relay forwards at a time when throttled


class ThrottledRelay:
    """127.0.0.1:port -> the hub, carrying the gateway's bytes at ``rate`` bytes/s (None: as
    fast as they come) and the hub's answers unthrottled. A connection the gateway closes
    (its timeout) is closed toward the hub at once, its unsent bytes dropped, as a link
    that lost the connection would."""

    def __init__(self, host: str, port: int) -> None:
        self.rate: float | None = None
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopping = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._stopping = True
        self._listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            hub = socket.create_connection(self._target)
            self._sockets += [client, hub]
            pending: queue.Queue[bytes] = queue.Queue()
            threading.Thread(target=self._read, args=(client, hub, pending), daemon=True).start()
            threading.Thread(target=self._forward, args=(pending, hub), daemon=True).start()
            threading.Thread(target=self._answer, args=(hub, client), daemon=True).start()

    def _read(self, client: socket.socket, hub: socket.socket, pending: queue.Queue[bytes],
              ) -> None:
        """Read the gateway's bytes as they come, so its close is seen at once."""
        while data := _recv(client):
            pending.put(data)
        pending.put(b"")
        _close(hub, client)

    def _forward(self, pending: queue.Queue[bytes], hub: socket.socket) -> None:
        while data := pending.get():
            for i in range(0, len(data), CHUNK):
                rate = self.rate
                if rate:
                    time.sleep(min(CHUNK, len(data) - i) / rate)  # the link's pace
                try:
                    hub.sendall(data[i:i + CHUNK])
                except OSError:
                    return

    def _answer(self, hub: socket.socket, client: socket.socket) -> None:
        while data := _recv(hub):
            try:
                client.sendall(data)
            except OSError:
                break
        _close(hub, client)


def _recv(s: socket.socket) -> bytes:
    try:
        return s.recv(65536)
    except OSError:
        return b""


def _close(*sockets: socket.socket) -> None:
    for s in sockets:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    workdir = tmp_path_factory.mktemp("hub")
    server = HubProcess(workdir, f'[telemetry]\npath = "{workdir}/telemetry.sqlite3"\n')
    yield server.start()
    server.stop()


@pytest.fixture(scope="module")
def token(hub: HubProcess) -> str:
    return hub.cli("gateway", "add", GATEWAY).strip()


@pytest.fixture
def relay(hub: HubProcess) -> Iterator[ThrottledRelay]:
    r = ThrottledRelay("127.0.0.1", int(hub.url.rsplit(":", 1)[1]))
    yield r
    r.stop()


@pytest.fixture
def buffer(tmp_path: Path) -> Iterator[StoreAndForwardBuffer]:
    b = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "buffer.sqlite3")))
    yield b
    b.close()


def uplink(relay: ThrottledRelay, token: str, buffer: StoreAndForwardBuffer,
           **kw: object) -> HttpUplink:
    settings = dict(kind="http", gateway_id=GATEWAY, url=relay.url, token=token,
                    batch_max_count=100, batch_ceiling_count=400, batch_max_age_s=0.05,
                    http_timeout_s=1.5, backoff_min_s=0.05, backoff_max_s=0.1)
    settings.update(kw)
    return HttpUplink(UplinkSettings(**settings), buffer)  # type: ignore[arg-type]


def stored(hub: HubProcess, first: int, last: int) -> int:
    """Distinct readings of this module's gateway with seq in [first, last) at the hub."""
    with contextlib.closing(sqlite3.connect(hub.workdir / "telemetry.sqlite3")) as db:
        return db.execute("SELECT count(*) FROM reading WHERE gateway = ? AND seq >= ? "
                          "AND seq < ?", (GATEWAY, first, last)).fetchone()[0]


def drain(up: HttpUplink, buffer: StoreAndForwardBuffer, timeout: float = 30) -> None:
    assert wait_for(lambda: buffer.stats().depth == 0, timeout), (buffer.stats(), up.counters())


def test_a_backlog_drains_in_batches_grown_to_the_ceiling(
        hub: HubProcess, token: str, relay: ThrottledRelay, buffer: StoreAndForwardBuffer,
) -> None:
    buffer.append([reading(i) for i in range(3000)], [])
    up = uplink(relay, token, buffer)
    up.start()
    try:
        drain(up, buffer)
        counters = up.counters()
    finally:
        up.stop()
    # 100, 200, then 400 a batch: 9 batches, against 30 at batch_max_count
    assert counters.batches_acked == 9 and counters.batch_count == 400, counters
    assert counters.entries_acked == 3000 and counters.send_errors == 0
    assert stored(hub, 0, 3000) == 3000


def test_a_slow_link_keeps_batches_at_batch_max_count(
        hub: HubProcess, token: str, relay: ThrottledRelay, buffer: StoreAndForwardBuffer,
) -> None:
    """At 4 kB/s a 100-reading batch (~1.6 kB gzip'd) takes ~0.4 s; 200 would take ~0.8 s,
    over the target (a third of the 1.5 s timeout): the count stays at 100."""
    relay.rate = 4000
    buffer.append([reading(i) for i in range(3000, 3500)], [])
    up = uplink(relay, token, buffer)
    up.start()
    try:
        drain(up, buffer)
        counters = up.counters()
    finally:
        up.stop()
    assert counters.batches_acked == 5 and counters.batch_count == 100, counters
    assert counters.send_errors == 0 and stored(hub, 3000, 3500) == 500


def test_a_grown_batch_that_times_out_on_a_slowed_link_goes_as_halves(
        hub: HubProcess, token: str, relay: ThrottledRelay, buffer: StoreAndForwardBuffer,
) -> None:
    """Grown to 400 over the fast link, then the link drops to 3 kB/s: the 400-reading batch
    (~5.7 kB gzip'd, ~1.9 s) times out; resent whole it would time out for ever. The count
    halves and the batch goes as two of 200 (~1 s each), which arrive; nothing is lost."""
    up = uplink(relay, token, buffer)
    up.start()
    try:
        buffer.append([reading(i) for i in range(4000, 5100)], [])
        drain(up, buffer)
        assert up.counters().batch_count == 400
        relay.rate = 3000
        buffer.append([reading(i) for i in range(5100, 5500)], [])
        drain(up, buffer)
        counters = up.counters()
    finally:
        up.stop()
    assert counters.send_errors == 1, counters  # the one timeout of the 400-reading batch
    assert counters.batch_count == 100, counters  # halved on the timeout, and for slowness
    assert counters.entries_acked == 1500 and stored(hub, 4000, 5500) == 1500
