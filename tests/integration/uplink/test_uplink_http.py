"""The HTTP uplink against ``HttpIngestServer``, a stdlib http.server that stands in for
the hub's ``POST /api/v1/ingest`` (tests/integration/gateway/hub_stand_in.py) until the hub's own
tests exercise the same contract (docs/uplink.md)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.heartbeat import HealthSnapshot, HeartbeatSettings
from siaga.gateway.uplink.batch_sizer import MAX_BODY_BYTES
from siaga.gateway.uplink.http_uplink import HttpUplink
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.servers import free_port
from tests.integration.gateway.hub_stand_in import HttpIngestServer, wait_for
from tests.integration.uplink.running import running
from tests.integration.uplink.senders import SENDERS
from tests.integration.uplink.test_uplink_mqtt import alert, reading

pytestmark = pytest.mark.integration


@pytest.fixture
def hub() -> Iterator[HttpIngestServer]:
    server = HttpIngestServer(token="gw-secret").start()
    yield server
    server.stop()


def settings(hub: HttpIngestServer, **kw: object) -> UplinkSettings:
    base = dict(kind="http", gateway_id="gw-h", url=hub.url, token="gw-secret",
                batch_max_count=100, batch_max_age_s=0.1, backoff_min_s=0.05,
                backoff_max_s=0.2, http_timeout_s=5.0)
    base.update(kw)
    return UplinkSettings(**base)  # type: ignore[arg-type]


def run_until_empty(up: HttpUplink, buffer: StoreAndForwardBuffer, timeout: float = 20) -> None:
    with running(up):
        assert wait_for(lambda: buffer.stats().depth == 0, timeout), buffer.stats()


@SENDERS
def test_batches_arrive_gzipped_alerts_first(
    hub: HttpIngestServer, buffer: StoreAndForwardBuffer, sender: str,
) -> None:
    buffer.append([reading(i) for i in range(250)], [])
    buffer.append([], [alert(1)])
    run_until_empty(HttpUplink(settings(hub, sender=sender), buffer), buffer)
    assert hub.unique_readings == 250 and hub.redelivered_readings == 0
    assert hub.batches[0]["alerts"]
    assert all(enc == "gzip" for path, _, enc in hub.requests if path == "/api/v1/ingest")


@SENDERS
def test_server_errors_are_retried_with_backoff(
    hub: HttpIngestServer, buffer: StoreAndForwardBuffer, sender: str,
) -> None:
    hub.fail_next, hub.fail_status = 4, 503
    buffer.append([reading(i) for i in range(10)], [])
    up = HttpUplink(settings(hub, sender=sender), buffer)
    run_until_empty(up, buffer)
    assert [s for _, s, _ in hub.requests] == [503, 503, 503, 503, 200]
    assert hub.unique_readings == 10 and up.counters().batches_resent == 4


@SENDERS
def test_wrong_token_keeps_rows(hub: HttpIngestServer, buffer: StoreAndForwardBuffer,
                                sender: str) -> None:
    buffer.append([reading(1)], [])
    up = HttpUplink(settings(hub, token="wrong", sender=sender), buffer)
    with running(up):
        assert wait_for(lambda: len(hub.requests) >= 3, 10)
    assert {s for _, s, _ in hub.requests} == {401}
    assert buffer.stats().depth == 1 and buffer.stats().rejected == 0


def test_422_moves_rows_to_rejected(hub: HttpIngestServer, buffer: StoreAndForwardBuffer) -> None:
    hub.fail_next, hub.fail_status = 1, 422
    buffer.append([reading(i) for i in range(4)], [])
    run_until_empty(HttpUplink(settings(hub), buffer), buffer)
    assert buffer.stats().rejected == 4 and hub.unique_readings == 0


@SENDERS
def test_413_splits_the_batch(hub: HttpIngestServer, buffer: StoreAndForwardBuffer,
                              sender: str) -> None:
    hub.max_entries = 30
    buffer.append([reading(i) for i in range(100)], [])
    run_until_empty(HttpUplink(settings(hub, sender=sender), buffer), buffer)
    assert hub.unique_readings == 100 and buffer.stats().rejected == 0
    assert all(len(b["readings"]) <= 30 for b in hub.batches)
    assert len({b["batch"] for b in hub.batches}) == len(hub.batches)


def test_after_a_413_the_batch_size_does_not_grow_back_into_the_limit(
        hub: HttpIngestServer, buffer: StoreAndForwardBuffer) -> None:
    """Grown from 100 to 200 on the backlog, a batch meets the hub's limit (150 entries):
    split, and the sizer keeps under three quarters of the refused body from then on, so
    the rest of the backlog goes in batches of 100 without another 413."""
    hub.max_entries = 150
    buffer.append([reading(i) for i in range(1000)], [])
    up = HttpUplink(settings(hub), buffer)
    run_until_empty(up, buffer)
    assert hub.unique_readings == 1000 and buffer.stats().rejected == 0
    assert [s for _, s, _ in hub.requests].count(413) == 1
    assert up.counters().batch_count == 100


def test_a_body_over_the_sizers_cap_goes_as_halves(
        hub: HttpIngestServer, buffer: StoreAndForwardBuffer) -> None:
    """1,000 alerts of ~8 kB each (explanations at the contract's 4,096-character bound) are
    one peek at batch_max_count 1000 but ~8 MB of JSON: the uplink splits the batch until each
    body is under the sizer's 4 MiB cap (over MQTT an oversized batch would be rejected and
    its alerts moved aside), and every alert arrives."""
    long = "x" * 4096
    buffer.append([], [replace(alert(i), explanation_id=long, explanation_en=long)
                       for i in range(1000)])
    run_until_empty(HttpUplink(settings(hub, batch_max_count=1000), buffer), buffer)
    assert len(hub.alert_deliveries) == 1000 and buffer.stats().rejected == 0
    sizes = [len(json.dumps(b)) for b in hub.batches]
    assert len(sizes) >= 2 and max(sizes) <= MAX_BODY_BYTES, sizes


def test_hub_down_then_up(buffer: StoreAndForwardBuffer) -> None:
    """Connection refused until the hub starts: rows wait, then all arrive once. The
    counters show the batch in flight and how long it has waited, then nothing held."""
    nothing = HttpIngestServer(token="gw-secret")  # only for its settings
    buffer.append([reading(i) for i in range(50)], [])
    up = HttpUplink(settings(nothing, url=f"http://127.0.0.1:{free_port()}"), buffer)
    nothing.stop()
    with running(up):
        assert wait_for(lambda: up.counters().send_errors >= 3, 10)
        assert buffer.stats().depth == 50
        held = up.counters()
        assert held.inflight == 1 and held.written_off == 0 and held.oldest_unacked_s > 0
    hub2 = HttpIngestServer(token="gw-secret").start()
    try:
        up2 = HttpUplink(settings(hub2), buffer)
        with running(up2):  # counted while it runs: stopped, the counters start over anyway
            assert wait_for(lambda: buffer.stats().depth == 0, 20), buffer.stats()
            assert wait_for(lambda: up2.counters().inflight == 0, 5)
            assert up2.counters().oldest_unacked_s == 0
        assert hub2.unique_readings == 50
    finally:
        hub2.stop()


def test_a_split_batch_keeps_its_clock_while_held(
        hub: HttpIngestServer, buffer: StoreAndForwardBuffer) -> None:
    """A batch the hub failed twice and then refused as too large (413) goes as halves: it
    stays in flight and its oldest-unacked clock runs on from its first send (before, each
    half started the clock over and between them showed nothing held)."""
    hub.fail_next, hub.max_entries = 2, 25
    buffer.append([reading(i) for i in range(50)], [])
    up = HttpUplink(settings(hub, backoff_min_s=0.5, backoff_max_s=0.5), buffer)
    samples = []
    with running(up):
        while buffer.stats().depth and len(samples) < 5000:
            c = up.counters()
            samples.append((c.inflight, c.oldest_unacked_s))
            time.sleep(0.002)
    assert hub.unique_readings == 50 and [s for _, s, _ in hub.requests].count(413) == 1
    held = [age for inflight, age in samples if inflight]
    assert max(held) >= 0.9, samples  # two failed tries, 0.5 s apart each
    drops = [(a, b) for a, b in itertools.pairwise(held) if b < a - 0.05]
    assert not drops, drops


def test_heartbeat_posted(hub: HttpIngestServer, buffer: StoreAndForwardBuffer) -> None:
    up = HttpUplink(settings(hub), buffer, health=HealthSnapshot("gw-h", buffer),
                    heartbeat=HeartbeatSettings(interval_s=1.0))
    with running(up):
        assert wait_for(lambda: len(hub.heartbeats) >= 2, 10)
    assert hub.heartbeats[0]["gateway"] == "gw-h" and hub.heartbeats[0]["buffer"]["depth"] == 0


def test_a_lone_reading_on_an_idle_uplink_leaves_at_its_batch_age(
    hub: HttpIngestServer, buffer: StoreAndForwardBuffer,
) -> None:
    """The thread slept with no deadline (nothing waiting, no heartbeat): the append that
    starts the batch-age clock wakes it to set one. It slept 60 s before (issue 17)."""
    up = HttpUplink(settings(hub, batch_max_age_s=0.2), buffer)
    with running(up):
        time.sleep(0.5)  # idle: the thread's wait has no batch deadline
        buffer.append([reading(1)], [])
        assert wait_for(lambda: buffer.stats().depth == 0, 20), up.counters()
    assert hub.unique_readings == 1
