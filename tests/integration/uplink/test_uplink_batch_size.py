"""The uplinks' batch size (gateway/uplink/batch_sizer.py) against a real ``siaga-hub
serve``: over HTTP, a backlog over a fast link drains in batches grown to the ceiling; over a
slow link (a relay that carries the gateway's bytes at a few kB/s, like GPRS) batches stay at
``batch_max_count``; and when a link that grew them slows down, the grown batch that now
times out goes as halves instead of timing out for ever. Over MQTT (the gateway -> the relay
-> a real Mosquitto -> the hub's subscriber) the same halving after a missing ack. Nothing is
lost in any case.

The slow link is ``ThrottledRelay``, a real TCP relay in this module: no cellular modem
runs here. The broker, the hub (HTTP and MQTT ingest) and its gateway token serve the whole
module (a hub start costs seconds).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.uplink.counters import UplinkCounters
from siaga.gateway.uplink.http_uplink import HttpUplink
from siaga.gateway.uplink.mqtt_uplink import MqttUplink
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.servers import HubProcess, Mosquitto
from tests.integration.gateway.hub_stand_in import MqttAckResponder, wait_for
from tests.integration.uplink.running import running
from tests.integration.uplink.test_uplink_mqtt import reading, uplink_settings

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
        self.forwarded = 0  # bytes carried toward the hub
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
                self.forwarded += len(data[i:i + CHUNK])

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
def broker() -> Iterator[Mosquitto]:
    server = Mosquitto().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, broker: Mosquitto) -> Iterator[HubProcess]:
    workdir = tmp_path_factory.mktemp("hub")
    server = HubProcess(workdir, f'[telemetry]\npath = "{workdir}/telemetry.sqlite3"\n'
                        f'[mqtt]\nenabled = true\nhost = "{broker.host}"\n'
                        f'port = {broker.port}\nclient_id = "hub-batch-size"\n')
    yield server.start(settle_s=1.0)
    server.stop()


@pytest.fixture(scope="module")
def token(hub: HubProcess) -> str:
    return hub.cli("gateway", "add", GATEWAY).strip()


@pytest.fixture
def relay(hub: HubProcess) -> Iterator[ThrottledRelay]:
    r = ThrottledRelay("127.0.0.1", int(hub.url.rsplit(":", 1)[1]))
    yield r
    r.stop()


def uplink(relay: ThrottledRelay, token: str, buffer: StoreAndForwardBuffer,
           **kw: object) -> HttpUplink:
    settings = dict(kind="http", gateway_id=GATEWAY, url=relay.url, token=token,
                    batch_max_count=100, batch_ceiling_count=400, batch_max_age_s=0.05,
                    http_timeout_s=1.5, backoff_min_s=0.05, backoff_max_s=0.1)
    settings.update(kw)
    return HttpUplink(UplinkSettings(**settings), buffer)  # type: ignore[arg-type]


def stored(hub: HubProcess, first: int, last: int, gateway: str = GATEWAY) -> int:
    """Readings of ``gateway`` with seq in [first, last) at the hub (its store keys a reading
    by identity: each is there once or not at all)."""
    with contextlib.closing(sqlite3.connect(hub.workdir / "telemetry.sqlite3")) as db:
        return db.execute("SELECT count(*) FROM reading WHERE gateway = ? AND seq >= ? "
                          "AND seq < ?", (gateway, first, last)).fetchone()[0]


def drain(up: HttpUplink | MqttUplink, buffer: StoreAndForwardBuffer, timeout: float = 30) -> None:
    assert wait_for(lambda: buffer.stats().depth == 0, timeout), (buffer.stats(), up.counters())


def drained(up: HttpUplink | MqttUplink, buffer: StoreAndForwardBuffer) -> UplinkCounters:
    """Starts ``up``, waits until the buffer is empty and stops it: its counters then."""
    with running(up):
        drain(up, buffer)
        return up.counters()


def test_a_backlog_drains_in_batches_grown_to_the_ceiling(
        hub: HubProcess, token: str, relay: ThrottledRelay, buffer: StoreAndForwardBuffer,
) -> None:
    buffer.append([reading(i) for i in range(3000)], [])
    counters = drained(uplink(relay, token, buffer), buffer)
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
    counters = drained(uplink(relay, token, buffer), buffer)
    assert counters.batches_acked == 5 and counters.batch_count == 100, counters
    assert counters.send_errors == 0 and stored(hub, 3000, 3500) == 500


def test_a_grown_batch_that_times_out_on_a_slowed_link_goes_as_halves(
        hub: HubProcess, token: str, relay: ThrottledRelay, buffer: StoreAndForwardBuffer,
) -> None:
    """Grown to 400 over the fast link, then the link drops to 3 kB/s: the 400-reading batch
    (~5.7 kB gzip'd, ~1.9 s) times out; resent whole it would time out for ever. The count
    halves and the batch goes as two of 200 (~1 s each), which arrive; nothing is lost."""
    up = uplink(relay, token, buffer)
    with running(up):
        buffer.append([reading(i) for i in range(4000, 5100)], [])
        drain(up, buffer)
        assert up.counters().batch_count == 400
        relay.rate = 3000
        buffer.append([reading(i) for i in range(5100, 5500)], [])
        drain(up, buffer)
        counters = up.counters()
    assert counters.send_errors == 1, counters  # the one timeout of the 400-reading batch
    assert counters.batch_count == 100, counters  # halved on the timeout, and for slowness
    assert counters.entries_acked == 1500 and stored(hub, 4000, 5500) == 1500


def test_mqtt_a_grown_batch_without_an_ack_on_a_slowed_link_goes_as_halves(
        hub: HubProcess, broker: Mosquitto, buffer: StoreAndForwardBuffer,
) -> None:
    """The MQTT uplink through the relay to the broker, the real hub subscribed there.
    Grown to 400 over the fast link, then the link drops to 46 kB/s: the next 400-reading
    batch (~84 kB of JSON, ~1.8 s) misses its 1.5 s ack timeout and cannot be taken back, so
    its halves (200, ~0.9 s each) queue behind it; the count halves and halves again (an ack
    later than a third of the timeout) down to 100. The second half's ack clock starts at the
    first's ack (it queued behind it), so the halves need no resend of their own. No batch
    after the 400 is bigger than 200; the hub stores every reading once (what went twice it
    acknowledges as duplicates). ``observer`` only records what the broker carries: it sends
    no ack."""
    gateway = "gw-batch-size-mqtt"
    relay = ThrottledRelay("127.0.0.1", broker.port)
    observer = MqttAckResponder(broker.host, broker.port, client_id="batch-size-observer")
    observer.acking = False
    observer.start()
    settings = replace(uplink_settings(broker, gateway, batch_max_count=100,
                                       batch_ceiling_count=400, max_inflight=2,
                                       ack_timeout_s=1.5, batch_max_age_s=0.05),
                       host="127.0.0.1", port=relay.port)
    up = MqttUplink(settings, buffer)
    with running(up, observer, relay):
        buffer.append([reading(i) for i in range(1500)], [])  # 100, 200, then 400 a batch
        drain(up, buffer)
        assert up.counters().batch_count == 400, up.counters()
        before = len(observer.batches)
        relay.rate = 46_000
        buffer.append([reading(i) for i in range(1500, 1900)], [])
        drain(up, buffer)
        counters = up.counters()
    sizes = [len(b["readings"]) for b in observer.batches[before:]]
    assert sizes[0] == 400 and max(sizes[1:]) <= 200 and sizes.count(400) == 1, sizes
    assert counters.batches_resent >= 1 and counters.batch_count == 100, counters
    assert counters.entries_acked == 1900 and stored(hub, 0, 1900, gateway) == 1900


@contextlib.contextmanager
def slow_mqtt_uplink(broker: Mosquitto, gateway: str, rate: float, backlog: int,
                     buffer: StoreAndForwardBuffer,
                     ) -> Iterator[tuple[MqttUplink, ThrottledRelay]]:
    """An MQTT uplink started with ``backlog`` readings waiting, through a relay carrying
    ``rate`` bytes/s: batches fixed at 100 readings (~21 kB of JSON), up to 4 in flight, a
    1 s ack timeout."""
    relay = ThrottledRelay("127.0.0.1", broker.port)
    relay.rate = rate
    settings = replace(uplink_settings(broker, gateway, batch_max_count=100,
                                       batch_ceiling_count=100, max_inflight=4,
                                       ack_timeout_s=1.0, batch_max_age_s=0.05),
                       host="127.0.0.1", port=relay.port)
    buffer.append([reading(i) for i in range(backlog)], [])
    up = MqttUplink(settings, buffer)
    with running(up, relay):
        yield up, relay


def test_mqtt_a_backlog_on_a_slow_link_goes_without_resends(
        hub: HubProcess, broker: Mosquitto, buffer: StoreAndForwardBuffer,
) -> None:
    """The MQTT uplink through the relay at 60 kB/s to the broker, the real hub subscribed
    there: a batch crosses in ~0.35 s, four in flight queue ~1.4 s, longer than the 1 s ack
    timeout. A batch's ack clock starts when the one ahead of it is acknowledged, so none
    is resent: 1,000 readings cross in ~212 kB. (Measured on the old code, clocks from the
    publish: 13 resends, ~436 kB; with the window alone: 9, ~402 kB.) Every reading is
    stored once."""
    gateway = "gw-window-mqtt"
    with slow_mqtt_uplink(broker, gateway, 60_000, 1000, buffer) as (up, relay):
        drain(up, buffer)
        counters = up.counters()
    assert counters.batches_resent == 0 and counters.inflight_window == 4, counters
    assert relay.forwarded < 250_000, relay.forwarded
    assert counters.entries_acked == 1000 and stored(hub, 0, 1000, gateway) == 1000


def test_mqtt_a_stalled_link_shrinks_the_window_instead_of_resending_everything(
        hub: HubProcess, broker: Mosquitto, buffer: StoreAndForwardBuffer,
) -> None:
    """The same link stalls at 2 kB/s for ~5 s with a backlog (a batch would take ~10 s, ten
    ack timeouts): the batches in flight miss their acks, the window halves to 1 and only the
    oldest goes again, once a timeout, instead of all four each time; then the link recovers
    and the window grows back. Measured: 4 resends in the stall, 8 in all, ~338 kB for 800
    readings: batches written off in the stall (missed twice) go again after it. (The old
    code's fixed window: 12 in the stall, 46 in all, ~665 kB.) Every reading is stored
    once."""
    gateway = "gw-window-stall"
    with slow_mqtt_uplink(broker, gateway, 2_000, 800, buffer) as (up, relay):
        assert wait_for(lambda: up.counters().inflight_window == 1, 5), up.counters()
        time.sleep(3)  # the stall: a link's pace, not a wait for the code under test
        stalled = up.counters()
        relay.rate = 60_000
        drain(up, buffer)
        counters = up.counters()
    # two at a window of 2, then the oldest once a timeout (~4 s): 6 allows for load
    assert stalled.inflight_window == 1 and stalled.batches_resent <= 6, stalled
    assert counters.inflight_window > 1, counters  # grown back on the acks
    assert counters.batches_resent <= 10 and relay.forwarded < 400_000, (counters,
                                                                         relay.forwarded)
    assert counters.entries_acked == 800 and stored(hub, 0, 800, gateway) == 800
