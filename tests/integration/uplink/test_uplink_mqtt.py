"""The MQTT uplink against a real Mosquitto, with ``MqttAckResponder`` standing in for
the hub (tests/integration/gateway/hub_stand_in.py) until the hub's own tests exercise the same
contract (docs/uplink.md)."""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.vocabulary import Level
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.heartbeat import HealthSnapshot, HeartbeatSettings, NodeSeen
from siaga.gateway.uplink.batch_sizer import MAX_BODY_BYTES
from siaga.gateway.uplink.mqtt_uplink import MqttUplink
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.servers import Mosquitto
from tests.integration.gateway.hub_stand_in import MqttAckResponder, wait_for
from tests.integration.uplink.running import running
from tests.integration.uplink.senders import SENDERS

pytestmark = pytest.mark.integration


def reading(seq: int, node: str = "slope-07") -> Reading:
    t = 1_795_000_000 + seq / 10
    return Reading(node=node, channel="vwc", value=30 + seq % 7, unit="%", ts=t,
                   received_at=t + 0.05, seq=seq, source="serial:/dev/pts/1")


def alert(n: int) -> Alert:
    return Alert(node="slope-07", hazard="landslide", level=Level.AWAS,
                 previous_level=Level.SIAGA, detector="landslide", ts=1_795_000_000 + n,
                 explanation_id="Tanah jenuh", explanation_en="Soil saturated",
                 site="bumiaji-slope")


def uplink_settings(broker: Mosquitto, gw: str, **kw: object) -> UplinkSettings:
    base = dict(kind="mqtt", gateway_id=gw, host=broker.host, port=broker.port,
                batch_max_count=200, batch_max_age_s=0.2, max_inflight=4,
                ack_timeout_s=3.0, backoff_min_s=0.5, backoff_max_s=1.0)
    base.update(kw)
    return UplinkSettings(**base)  # type: ignore[arg-type]


@SENDERS
def test_backlog_arrives_alerts_first_and_buffer_empties(
    fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer, sender: str,
) -> None:
    """The backlog drains in batches grown from batch_max_count (200) to the ceiling (400)
    while more waits than a batch holds and the acks come fast (gateway/uplink/batch_sizer.py)."""
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port).start()
    buffer.append([reading(i) for i in range(3000)], [])
    buffer.append([], [alert(1)])
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-a", batch_ceiling_count=400,
                                    sender=sender), buffer)
    with running(up, hub):
        assert wait_for(lambda: buffer.stats().depth == 0, 20)
    assert hub.unique_readings == 3000 and len(hub.alert_deliveries) == 1
    assert hub.batches[0]["alerts"], "the alert jumps the backlog"
    sizes = [len(b["readings"]) + len(b["alerts"]) for b in hub.batches]
    assert sizes[1] == 200 and max(sizes) == 400 and sizes.count(400) >= 4, sizes
    assert up.counters().entries_acked == 3001


def test_broker_outage_loses_nothing(
    fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer,
) -> None:
    """The uplink broker stops for 3 s mid-stream and comes back: every reading arrives,
    each identity is stored once, and what waited through the outage is back-filled."""
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port).start()
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-b", backfill_after_s=1.0), buffer)
    up.start()
    # 7.5 s of stream (it was 15): readings before, during and after the 3 s outage either way.
    total = 1500
    stop_core = threading.Event()

    def core() -> None:  # the gateway's core thread: 20 commits/s of 10 readings
        for i in range(0, total, 10):
            buffer.append([reading(s) for s in range(i, i + 10)], [])
            if stop_core.wait(0.05):
                return

    t = threading.Thread(target=core)
    t.start()
    try:
        assert hub.wait_until(lambda: hub.unique_readings >= 200, 20)
        fresh_mosquitto.stop()
        time.sleep(3)  # the outage
        assert buffer.stats().depth > 0
        fresh_mosquitto.start()
        t.join(60)
        assert wait_for(lambda: buffer.stats().depth == 0, 60), buffer.stats()
        assert hub.wait_until(lambda: hub.unique_readings == total, 10)
    finally:
        stop_core.set()
        t.join()
        up.stop()
        hub.stop()
    expected = {("gw-b", "slope-07", "vwc", round(reading(i).ts * 1000), i)
                for i in range(total)}
    assert set(hub.reading_deliveries) == expected
    assert any(b["backfill"] for b in hub.batches)
    assert all(r["ts"] == round(reading(r["seq"]).ts * 1000)
               for b in hub.batches for r in b["readings"])


def test_rejected_batch_moves_to_rejected_table(
    fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer,
) -> None:
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port)
    hub.reject = True
    hub.start()
    buffer.append([reading(i) for i in range(5)], [])
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-c"), buffer)
    with running(up, hub):
        assert wait_for(lambda: buffer.stats().rejected == 5, 10)
    assert buffer.stats().depth == 0 and up.counters().batches_rejected == 1


@SENDERS
def test_unacked_batch_is_resent_with_the_same_id(
    fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer, sender: str,
) -> None:
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port)
    hub.acking = False
    hub.start()
    buffer.append([reading(i) for i in range(3)], [])
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-d", ack_timeout_s=0.5, sender=sender),
                    buffer)
    with running(up, hub):
        assert hub.wait_until(lambda: len(hub.batches) >= 2, 10)
        assert buffer.stats().depth == 3, "nothing deleted without an ack"
        hub.acking = True
        assert wait_for(lambda: buffer.stats().depth == 0, 10)
    ids = {b["batch"] for b in hub.batches}
    assert len(ids) == 1 and next(iter(ids)).startswith("gw-d:")
    assert hub.unique_readings == 3 and up.counters().batches_resent >= 1


def test_a_grown_batch_without_an_ack_goes_again_as_halves(
    fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer,
) -> None:
    """Grown to 400 while acks came fast, then the link slows so that no batch over 200
    readings is acknowledged: the two 400-reading batches in flight miss their ack, the count
    halves, and each goes again as two batches of 200 under their own ids, which are
    acknowledged (resent whole, they would miss their ack for ever;
    gateway/uplink/batch_sizer.py)."""
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port).start()
    buffer.append([reading(i) for i in range(3000)], [])
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-halves", batch_ceiling_count=400,
                                    ack_timeout_s=1.0), buffer)
    with running(up, hub):
        assert wait_for(lambda: buffer.stats().depth == 0, 20)
        assert up.counters().batch_count == 400
        hub.max_acked_entries = 200
        before = len(hub.batches)
        buffer.append([reading(i) for i in range(3000, 3800)], [])
        assert wait_for(lambda: buffer.stats().depth == 0, 20), up.counters()
        counters = up.counters()
    sizes = [len(b["readings"]) for b in hub.batches[before:]]
    assert sizes == [400, 400, 200, 200, 200, 200], sizes
    assert len({b["batch"] for b in hub.batches[before:]}) == 6
    assert hub.unique_readings == 3800 and counters.batch_count == 200, counters
    assert counters.entries_acked == 3800 and counters.batches_resent == 2


def test_a_body_over_the_sizers_cap_is_published_as_halves(
    fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer,
) -> None:
    """1,000 alerts of ~8 kB each are one peek at batch_max_count 1000 but ~8 MB of JSON: they
    go as batches under the sizer's 4 MiB cap (the hub rejects a batch over its
    ingest.max_batch_bytes, and a rejected batch's alerts are moved aside), all acknowledged."""
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port).start()
    long = "x" * 4096
    buffer.append([], [replace(alert(i), explanation_id=long, explanation_en=long)
                       for i in range(1000)])
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-cap", batch_max_count=1000), buffer)
    with running(up, hub):
        assert wait_for(lambda: buffer.stats().depth == 0, 20)
    sizes = [len(json.dumps(b)) for b in hub.batches]
    assert len(sizes) >= 2 and max(sizes) <= MAX_BODY_BYTES, sizes
    assert len(hub.alert_deliveries) == 1000 and buffer.stats().rejected == 0


@SENDERS
def test_status_heartbeat_and_last_will(
    fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer, tmp_path: Path, sender: str,
) -> None:
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port).start()
    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    health = HealthSnapshot("gw-e", buffer, lambda: {"slope-07": NodeSeen(1_795_000_000_000, 60)},
                            thermal_zone=zone)
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-e", sender=sender), buffer,
                    health=health, heartbeat=HeartbeatSettings(interval_s=1.0))
    with running(up):
        assert hub.wait_until(lambda: len(hub.heartbeats) >= 2, 10)
    beat = hub.heartbeats[0]
    assert beat["gateway"] == "gw-e" and beat["cpu_temp_c"] == 48.3
    assert beat["buffer"]["depth"] == 0 and beat["nodes"]["slope-07"]["frames_ok"] == 60
    assert isinstance(beat["disk_free_bytes"], int)
    assert hub.wait_until(lambda: any(s["state"] == "offline" for _, s in hub.statuses), 5)
    states = [s["state"] for t, s in hub.statuses if t == "siaga/gw/gw-e/status"]
    assert states[0] == "online" and states[-1] == "offline"
    hub.stop()
    # The retained status is what a hub connecting later sees.
    got: list[dict[str, str]] = []
    done = threading.Event()
    late = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="late-hub")
    late.on_connect = lambda c, *_: c.subscribe("siaga/gw/gw-e/status", 1)
    late.on_message = lambda c, u, m: (got.append(json.loads(m.payload)), done.set())
    late.connect(fresh_mosquitto.host, fresh_mosquitto.port)
    late.loop_start()
    assert done.wait(5)
    late.loop_stop()
    assert got[0]["state"] == "offline"


def test_a_lone_reading_on_an_idle_uplink_leaves_at_its_batch_age(
    fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer,
) -> None:
    """The thread slept with no deadline (nothing waiting, no heartbeat): the append that
    starts the batch-age clock wakes it to set one. It slept 60 s before (issue 17)."""
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port).start()
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-idle", batch_max_age_s=0.2), buffer)
    with running(up, hub):
        assert wait_for(lambda: up.connected, 10)
        time.sleep(0.5)  # idle: the thread's wait has no batch deadline
        buffer.append([reading(1)], [])
        assert wait_for(lambda: buffer.stats().depth == 0, 20), up.counters()
    assert hub.unique_readings == 1


def test_a_batch_without_its_ack_goes_again_after_growing_waits_but_alerts_do_not(
    fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer,
) -> None:
    """The broker is up, the hub receives but never acks: the batch of readings goes again
    at the 0.3 s timeout, then after a growing wait more (backoff 0.3-2 s), while the batch of
    alerts keeps the timeout's pace (before: the readings' batch was written off behind the
    alerts' and never went again, or alone went once a timeout for ever). An ack ends it."""
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port)
    hub.acking = False
    hub.start()
    buffer.append([], [alert(1)])
    buffer.append([reading(i) for i in range(5)], [])
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-backoff", ack_timeout_s=0.3,
                                    backoff_min_s=0.3, backoff_max_s=2.0), buffer)
    # Seeded: its waits from the third on are 0.7 s or more (gaps of 0.85, 1.29, 1.03, 1.44
    # ...); unseeded, an average of the last gaps fell short by chance ~2.4 % of runs.
    up._policy.rng = random.Random(1)
    with running(up, hub):
        time.sleep(7)
        with hub.cond:
            sent = [(t, b["batch"], bool(b["alerts"])) for t, b in zip(
                hub.arrivals, hub.batches, strict=True)]
        hub.acking = True
        assert wait_for(lambda: buffer.stats().depth == 0, 10), up.counters()
    readings = [t for t, _, alerts in sent if not alerts]
    gaps = [b - a for a, b in zip(readings, readings[1:], strict=False)]
    assert len(readings) >= 5, sent
    # Each wait at least backoff_min_s beyond the timeout after the first resend (copies
    # reach the hub a few ms apart at most), and grown from the fourth on. The first gap
    # runs from the first copy, which may cross as the connection comes up: only bounded.
    assert gaps[0] < 0.9 and min(gaps[1:]) >= 0.55 and min(gaps[3:]) >= 0.95, gaps
    assert sum(alerts for *_, alerts in sent) >= 12, sent  # ~0.3 s apart
    assert len({b for _, b, _ in sent}) == 2 and hub.unique_readings == 5


def test_the_entries_in_flight_stay_under_max_inflight_entries(
    fresh_mosquitto: Mosquitto, buffer: StoreAndForwardBuffer,
) -> None:
    """No acks: batches of 100 go while they fit under max_inflight_entries 250 (two, not the
    four the window allows), and the batch of alerts goes beyond it; acks let the rest go."""
    hub = MqttAckResponder(fresh_mosquitto.host, fresh_mosquitto.port)
    hub.acking = False
    hub.start()
    buffer.append([reading(i) for i in range(1000)], [])
    up = MqttUplink(uplink_settings(fresh_mosquitto, "gw-bound", batch_max_count=100,
                                    batch_ceiling_count=100, max_inflight_entries=250,
                                    ack_timeout_s=5.0), buffer)
    with running(up, hub):
        assert hub.wait_until(lambda: len(hub.batches) >= 2, 10)
        buffer.append([], [alert(1)])
        assert hub.wait_until(lambda: len(hub.batches) >= 3, 10)
        time.sleep(1)
        assert [len(b["readings"]) + len(b["alerts"]) for b in hub.batches] == [100, 100, 1]
        hub.acking = True  # the ack timeout resends them; their acks make room
        assert wait_for(lambda: buffer.stats().depth == 0, 30), up.counters()
    assert hub.unique_readings == 1000 and len(hub.alert_deliveries) == 1
