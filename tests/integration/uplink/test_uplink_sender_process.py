"""The uplink's sender process (``uplink.sender = "process"``, gateway/uplink/sender_process.py)
SIGKILLed twice mid-stream: each time another starts, what was in flight goes again, and the
hub stores every reading exactly once. HTTP against a real ``siaga-hub serve`` (its telemetry
file counted), MQTT through a real Mosquitto with ``MqttAckResponder`` standing in for the hub
(tests/integration/gateway/hub_stand_in.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.uplink.backoff import Backoff
from siaga.gateway.uplink.http_uplink import HttpUplink
from siaga.gateway.uplink.mqtt_transport import MqttTransportConfig
from siaga.gateway.uplink.mqtt_uplink import MqttUplink
from siaga.gateway.uplink.sender_process import ChildMqttTransport
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.servers import HubProcess, Mosquitto, free_port
from tests.integration.gateway.hub_stand_in import MqttAckResponder, wait_for
from tests.integration.uplink.running import running
from tests.integration.uplink.test_uplink_mqtt import reading, uplink_settings

pytestmark = pytest.mark.integration

TOTAL = 3000
NODE = "kill-sender"


def stream_with_two_kills(up: HttpUplink | MqttUplink, buffer: StoreAndForwardBuffer,
                          delivered: Callable[[], int]) -> None:
    """The core's appends (100 readings each) while the uplink sends; the sender is SIGKILLed
    once a sixth and once half of the readings are delivered; then it drains."""
    def core() -> None:
        for i in range(0, TOTAL, 100):
            buffer.append([reading(s, node=NODE) for s in range(i, i + 100)], [])
            if stop.wait(0.02):
                return

    stop = threading.Event()
    feeder = threading.Thread(target=core)
    up.start()
    feeder.start()
    try:
        for share in (6, 2):
            assert wait_for(lambda s=share: delivered() >= TOTAL // s, 60), up.counters()
            pid = up.sender_pid
            assert pid is not None and pid != os.getpid()
            os.kill(pid, signal.SIGKILL)
            assert wait_for(lambda p=pid: up.sender_pid not in (None, p), 30), up.counters()
        feeder.join(60)
        assert wait_for(lambda: buffer.stats().depth == 0, 60), (buffer.stats(), up.counters())
    finally:
        stop.set()
        feeder.join()
        up.stop()


def test_http_sender_killed_mid_stream_loses_and_doubles_nothing(
        tmp_path: Path, buffer: StoreAndForwardBuffer) -> None:
    workdir = tmp_path / "hub"
    workdir.mkdir()
    hub = HubProcess(workdir, f'[telemetry]\npath = "{workdir}/telemetry.sqlite3"\n')
    token = hub.cli("gateway", "add", "gw-kill-http").strip()
    with running(hub):
        up = HttpUplink(UplinkSettings(
            kind="http", gateway_id="gw-kill-http", url=hub.url, token=token, sender="process",
            batch_max_count=100, batch_max_age_s=0.05, backoff_min_s=0.05, backoff_max_s=0.2),
            buffer)
        stream_with_two_kills(up, buffer, lambda: up.counters().entries_acked)
        counters = up.counters()
    with sqlite3.connect(workdir / "telemetry.sqlite3") as db:
        stored = db.execute("SELECT COUNT(*), COUNT(DISTINCT seq) FROM reading WHERE node = ?",
                            (NODE,)).fetchone()
    assert stored == (TOTAL, TOTAL)
    assert counters.sender_restarts == 2 and counters.entries_acked == TOTAL
    assert counters.send_errors >= 1  # the request the kill cut off (or the next one)


def test_mqtt_sender_killed_mid_stream_loses_and_doubles_nothing(
        fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer) -> None:
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port).start()
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-kill-mqtt", sender="process",
                                    batch_max_count=100, ack_timeout_s=120.0,
                                    backoff_min_s=0.1), buffer)
    try:
        # what was in flight goes again at the new sender's connect, not after the ack timeout
        stream_with_two_kills(up, buffer, lambda: hub.unique_readings)
        assert wait_for(lambda: hub.unique_readings == TOTAL, 10), hub.unique_readings
    finally:
        hub.stop()
    expected = {("gw-kill-mqtt", NODE, "vwc", round(reading(i).ts * 1000), i)
                for i in range(TOTAL)}
    assert set(hub.reading_deliveries) == expected
    assert up.counters().sender_restarts == 2


def test_mqtt_sender_restart_halves_the_batch_count_once(
        fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer) -> None:
    """A sender that dies with batches in flight is one failure of the link: the count grown
    over a backlog halves once (it was quartered: the batches marked overdue for their resend
    were counted failed again as overdue)."""
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port).start()
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-halve", sender="process",
                                    batch_max_count=100, batch_ceiling_count=6400,
                                    ack_timeout_s=120.0, backoff_min_s=0.1), buffer)
    for i in range(0, 30_000, 1000):
        buffer.append([reading(s, node=NODE) for s in range(i, i + 1000)], [])
    with running(up, hub):
        assert wait_for(lambda: up.counters().batch_count >= 800, 60), up.counters()
        acks = hub.stop_acking()
        # Every ack the hub sent settles first: one still on its way when the count is read
        # would change it after (an ack may double it) or take its batch out of the restart's
        # resends (an ack the killed sender had not taken, the broker keeps for the session
        # and hands to the new one). Then every slot holds an unacknowledged batch: the count
        # stays put until the restart.
        # (A second ack of a settled batch counts as stale, not acked.)
        assert wait_for(lambda: (c := up.counters()).batches_acked + c.stale_acks >= acks
                        and c.batches_sent - c.batches_acked == 4, 30), (acks, up.counters())
        grown = up.counters().batch_count
        pid = up.sender_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: up.counters().batch_count != grown, 30), up.counters()
        # the restart handled whole (the count halves just before the resends go: wait)
        assert wait_for(lambda: up.counters().batches_resent >= 4, 30), up.counters()
        assert up.counters().batch_count == grown // 2


def test_mqtt_close_while_the_sender_starts_stops_it() -> None:
    """close() right after open(), while the reader thread is still starting the sender (so
    no sender takes the close frame): the reader stops the new sender itself and close()
    returns. It hung: the reader went on reading from a sender no one had told to close, and
    close()'s stop, after its join timed out, blocked on the socket the reader held. No broker
    is needed: the sender is ready before its client connects."""
    config = MqttTransportConfig(
        host="127.0.0.1", port=free_port(), client_id="siaga-gw-close-race", keepalive_s=30,
        tls=False, ca=None, cert=None, key=None, username=None, password=None,
        reconnect_min_s=1, reconnect_max_s=1, max_inflight=12,
        will_topic="siaga/gw/close-race/status", will_payload=b"{}")
    link = ChildMqttTransport(config, lambda event: None, Backoff(0.1, 0.2))
    link.open()
    closer = threading.Thread(target=link.close, args=("siaga/gw/close-race/status", None, 1.0),
                              daemon=True)
    closer.start()
    closer.join(20.0)  # close()'s own bound: its join (timeout + 5 s), then a 2 s stop
    assert not closer.is_alive(), "close() hangs"
    assert link.pid is None
