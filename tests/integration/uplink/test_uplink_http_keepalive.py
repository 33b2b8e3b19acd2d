"""The HTTP uplink's kept-alive connection (gateway/uplink/hub_connection.py) against a real
``siaga-hub serve``: reused across batches, replaced when the hub closes it (its idle limit,
the hub restarted, or closed while a request is on its way), and a 503's Retry-After still
waited out, the connection the hub closed meanwhile replaced without an error. Nothing is
lost or acknowledged early in any case. One hub process and gateway token for the module
(each ``siaga-hub`` start costs seconds)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest

from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.uplink.http_uplink import HttpUplink
from siaga.gateway.uplink.hub_connection import HubConnection
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.servers import HubProcess
from tests.integration.gateway.hub_stand_in import wait_for
from tests.integration.uplink.running import running
from tests.integration.uplink.senders import SENDERS
from tests.integration.uplink.test_uplink_mqtt import reading

pytestmark = pytest.mark.integration

KEEP_ALIVE_S = 1.0  # the hub's server.keep_alive_s: short, so a test can outwait it
RETRY_AFTER_S = 2
GATEWAY = "gw-keepalive"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    workdir = tmp_path_factory.mktemp("hub")
    server = HubProcess(workdir, f"""
[server]
keep_alive_s = {KEEP_ALIVE_S}
[telemetry]
path = "{workdir}/telemetry.sqlite3"
[ingest]
store_deadline_s = 1
retry_after_s = {RETRY_AFTER_S}
""")
    yield server.start()
    server.stop()


@pytest.fixture(scope="module")
def token(hub: HubProcess) -> str:
    return hub.cli("gateway", "add", GATEWAY).strip()


def uplink(hub: HubProcess, token: str, buffer: StoreAndForwardBuffer,
           sender: str = "thread") -> HttpUplink:
    return HttpUplink(UplinkSettings(kind="http", gateway_id=GATEWAY, url=hub.url, token=token,
                                     batch_max_count=50, batch_max_age_s=0.05,
                                     backoff_min_s=0.05, backoff_max_s=0.2,
                                     sender=sender), buffer)  # type: ignore[arg-type]


def send(up: HttpUplink, buffer: StoreAndForwardBuffer, first: int, n: int) -> None:
    buffer.append([reading(i) for i in range(first, first + n)], [])
    assert wait_for(lambda: buffer.stats().depth == 0, 30), (buffer.stats(), up.counters())


@SENDERS
def test_batches_share_one_connection_and_an_idle_closed_one_is_replaced(
        hub: HubProcess, token: str, buffer: StoreAndForwardBuffer, sender: str) -> None:
    up = uplink(hub, token, buffer, sender)
    with running(up):
        send(up, buffer, 0, 500)  # ten batches
        assert up.counters().connections_opened == 1
        time.sleep(KEEP_ALIVE_S + 1)  # the hub closes the idle connection
        send(up, buffer, 500, 100)
        counters = up.counters()
    assert counters.connections_opened == 2
    assert counters.send_errors == 0 and counters.batches_resent == 0
    assert counters.entries_acked == 600


def test_a_request_on_a_connection_the_hub_closed_is_sent_again_on_a_new_one(
        hub: HubProcess, token: str) -> None:
    """The race the idle check cannot see (the hub closes while the request is on its way),
    forced by skipping the check: the request still gets its answer."""
    conn = HubConnection(hub.url, 5.0, None)
    conn._closed_by_peer = lambda: False  # type: ignore[method-assign]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert conn.post("/api/v1/heartbeat", b"{}", headers).status == 422
    time.sleep(KEEP_ALIVE_S + 1)
    answer = conn.post("/api/v1/heartbeat", b"{}", headers)
    assert answer.status == 422 and b"gateway" in answer.body
    assert conn.opened == 2
    conn.close()


def test_a_503_with_retry_after_is_waited_out_then_sent_on_a_new_connection(
        hub: HubProcess, token: str, buffer: StoreAndForwardBuffer) -> None:
    """The hub's telemetry file locked by another writer: its write misses
    ingest.store_deadline_s and the hub answers 503 with Retry-After. The wait outlasts the
    hub's keep-alive, so the next try finds its connection closed and opens one: no error."""
    up = uplink(hub, token, buffer)
    with running(up):
        send(up, buffer, 0, 50)  # connected
        lock = sqlite3.connect(hub.workdir / "telemetry.sqlite3", isolation_level=None,
                               check_same_thread=False)
        lock.execute("BEGIN IMMEDIATE")
        unlock = threading.Timer(2.0, lambda: lock.execute("ROLLBACK"))
        locked_at = time.monotonic()
        unlock.start()
        buffer.append([reading(i) for i in range(50, 100)], [])
        assert wait_for(lambda: buffer.stats().depth == 0, 60), (buffer.stats(), up.counters())
        took = time.monotonic() - locked_at
        unlock.join()
        lock.close()
        counters = up.counters()
    assert counters.send_errors == 1 and counters.entries_acked == 100
    # the first try waited for the store deadline (1 s), then at least Retry-After
    assert took >= 1 + RETRY_AFTER_S
    assert counters.connections_opened == 2


@SENDERS
def test_a_hub_restart_costs_a_new_connection_and_no_reading(
        hub: HubProcess, token: str, buffer: StoreAndForwardBuffer, sender: str) -> None:
    up = uplink(hub, token, buffer, sender)
    with running(up):
        send(up, buffer, 0, 100)
        hub.stop()
        buffer.append([reading(i) for i in range(100, 200)], [])
        assert wait_for(lambda: up.counters().send_errors >= 1, 10)
        assert buffer.stats().depth == 100  # nothing acknowledged while the hub is away
        hub.start()
        assert wait_for(lambda: buffer.stats().depth == 0, 30), (buffer.stats(), up.counters())
        counters = up.counters()
    assert counters.entries_acked == 200 and counters.connections_opened >= 2
