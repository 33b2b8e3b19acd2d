"""One logical gateway of a fleet: its buffer and its MQTT uplink's state, as the gateway's
uplink keeps them (``gateway/uplink``); ``simulators/gateway_fleet.py`` runs hundreds of them
on one event loop.

- nodes report every ``cadence_s``, one reading per channel;
- a batch is taken when ``batch_max_count`` readings wait, when an alert waits (alerts travel
  alone and first), or when the oldest waiting reading is ``batch_max_age_s`` old; it holds
  up to the gateway's own ``BatchSizer``'s count (gateway/uplink/batch_sizer.py: grown to
  ``batch_ceiling_count`` while a backlog drains fast, halved when batches miss their ack),
  fed each ack's time and body size as the MQTT uplink feeds it;
- at most ``max_inflight`` batches await their ack; one without an ack after
  ``ack_timeout_s`` is published again unchanged, or as halves if it is bigger than the
  sizer's count by then; entries buffered more than ``backfill_after_s`` before their batch
  is built are marked ``backfill``;
- a heartbeat every ``heartbeat_s``.

Records are the contract's own (``firmware_bridge.uplink``), encoded by its encoders.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from siaga.firmware_bridge.frame_rules import SEQ_MODULUS
from siaga.firmware_bridge.uplink import (
    Ack,
    BufferHealth,
    GatewayStatus,
    Heartbeat,
    LossReport,
    NodeHealth,
    UplinkAlert,
    UplinkReading,
)
from siaga.firmware_bridge.uplink_codec import decode_ack, encode, encode_batch, entry_payload
from siaga.gateway.uplink.batch_sizer import BatchSizer
from siaga.simulators.fleet_plan import FleetAlert, FleetGateway, FleetPlan, GatewayStats

__all__ = ["LogicalGateway"]

_CHANNELS: tuple[tuple[str, str], ...] = (("vwc", "%"), ("tilt", "deg"), ("batt", "V"),
                                           ("rssi", "dBm"), ("temp", "C"), ("rain", "mm"))



@dataclass(frozen=True, slots=True)
class _Entry:
    """A buffered record as ``encode_batch`` takes it (``BufferedEntry``)."""

    id: int
    payload: str
    backfill: bool
    queued: float
    alert: bool = False


@dataclass(slots=True)
class _InFlight:
    body: bytes
    readings: list[_Entry]
    alerts: list[_Entry]
    sent: float
    first_sent: float
    backlog: bool



class LogicalGateway:
    """One logical gateway's buffer and uplink state (all on the fleet's event loop)."""

    def __init__(self, spec: FleetGateway, plan: FleetPlan, rng: random.Random) -> None:
        self.spec = spec
        self.plan = plan
        self.topic = f"siaga/gw/{spec.id}"
        self.readings: deque[_Entry] = deque()
        self.alerts: deque[_Entry] = deque()
        self.inflight: dict[str, _InFlight] = {}
        self.sizer = BatchSizer(plan.batch_max_count, plan.batch_ceiling_count,
                                plan.ack_timeout_s)
        self.next_id = 1
        self.seq = {n: rng.randrange(SEQ_MODULUS) for n in spec.nodes}
        # each node reports at its own phase in the cadence
        self.phase = {n: rng.random() * plan.cadence_s for n in spec.nodes}
        self.next_heartbeat = plan.start + rng.random() * plan.heartbeat_s
        self.stats = GatewayStats()
        self.connected = asyncio.Event()
        self.closing = False
        self.link_up = True
        self.in_outage = spec.id in plan.outage
        self.started = time.time()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"siaga-gw-{spec.id}",
                                  protocol=mqtt.MQTTv311, clean_session=False)
        self.client.max_inflight_messages_set(plan.max_inflight + 4)
        self.client.max_queued_messages_set(0)
        self.client.will_set(f"{self.topic}/status", encode(GatewayStatus("offline")), 1, True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect

    # -- buffer ---------------------------------------------------------------------------

    def _append(self, record: UplinkReading | UplinkAlert, queued: float) -> None:
        alert = isinstance(record, UplinkAlert)
        entry = _Entry(self.next_id, entry_payload(record), False, queued, alert)
        self.next_id += 1
        (self.alerts if alert else self.readings).append(entry)

    def report(self, node: str, at: float) -> None:
        ts = int(at * 1000)
        seq = self.seq[node] = (self.seq[node] + 1) % SEQ_MODULUS
        for name, unit in _CHANNELS[:self.plan.channels]:
            value = round(20 + (hash((node, name)) % 200) / 10 + (ts // 60_000) % 7 * 0.1, 2)
            self._append(UplinkReading(id=0, node=node, channel=name, value=value, unit=unit,
                                       ts=ts, rx=ts + 40, seq=seq, src="serial:/dev/ttyUSB0"),
                         at)
        self.stats.readings += self.plan.channels

    def raise_alert(self, a: FleetAlert, now: float) -> None:
        ts = int(now * 1000)
        self._append(UplinkAlert(
            id=0, node=a.node, hazard=a.hazard, level=a.level, previous_level=a.previous_level,
            detector=a.hazard, ts=ts, explanation=a.explanation,
            explanation_en=a.explanation, site=a.site, channel="vwc", window_s=600.0,
            channels=("vwc", "tilt"), nodes=(a.node,)), now)
        self.stats.alert_sent[a.explanation] = now

    def fill_backlog(self) -> None:
        """The readings of ``outage_backlog_s`` before the outage began, oldest first, ahead
        of those buffered during it (the buffer keeps them in time order)."""
        start = self.plan.outage_start - self.plan.outage_backlog_s
        reports = []
        for node in self.spec.nodes:
            t = start + self.phase[node]
            while t < self.plan.outage_start:
                reports.append((t, node))
                t += self.plan.cadence_s
        reports.sort(key=lambda r: r[0])
        held = self.readings
        self.readings = deque()
        for t, node in reports:
            self.report(node, t)
        # row ids must rise in buffer order, as the gateway's SQLite rowids do
        for e in held:
            self.readings.append(replace(e, id=self.next_id))
            self.next_id += 1

    # -- uplink ---------------------------------------------------------------------------

    def pump(self, now: float) -> None:
        """Publish what the gateway's uplink would publish now; resend overdue batches."""
        if not self.link_up or not self.connected.is_set():
            return
        overdue = [(bid, f) for bid, f in self.inflight.items()
                   if now - f.sent > self.plan.ack_timeout_s]
        if overdue:  # batches overdue together are one failure of the link
            self.sizer.failed()
        for bid, f in overdue:
            self.stats.resends += 1
            entries = f.alerts + f.readings
            if len(entries) > self.sizer.count:  # as the MQTT uplink: its halves go instead
                del self.inflight[bid]
                half = len(entries) // 2
                for part in (entries[:half], entries[half:]):
                    body = self._batch([e for e in part if not e.alert],
                                       [e for e in part if e.alert], now, f.first_sent)
                    self.client.publish(f"{self.topic}/data", body, qos=1)
                continue
            f.sent = now
            self.client.publish(f"{self.topic}/data", f.body, qos=1)
        while (batch := self.next_batch(now)) is not None:
            self.client.publish(f"{self.topic}/data", batch, qos=1)

    def next_batch(self, now: float) -> bytes | None:
        """The next batch the uplink would send now (counted in flight), or None: the window
        is full, nothing waits, or the waiting readings are neither many nor old enough."""
        if len(self.inflight) >= self.plan.max_inflight:
            return None
        count = self.sizer.count
        if self.alerts:
            n = min(len(self.alerts), count)
            return self._batch([], [self.alerts.popleft() for _ in range(n)], now)
        if not self.readings:
            return None
        # the trigger is batch_max_count whatever the sizer's count: growing never delays
        full = len(self.readings) >= self.plan.batch_max_count
        if not full and now - self.readings[0].queued < self.plan.batch_max_age_s:
            return None
        n = min(len(self.readings), count)
        return self._batch([self.readings.popleft() for _ in range(n)], [], now)

    def _batch(self, readings: list[_Entry], alerts: list[_Entry], now: float,
               first_sent: float | None = None) -> bytes:
        def marked(e: _Entry) -> _Entry:
            old = now - e.queued > self.plan.backfill_after_s
            return _Entry(e.id, e.payload, old, e.queued, e.alert) if old else e

        readings, alerts = [marked(e) for e in readings], [marked(e) for e in alerts]
        ids = [e.id for e in alerts + readings]
        bid = f"{self.spec.id}:{min(ids):012d}-{max(ids):012d}"
        body = encode_batch(self.spec.id, bid, readings, alerts, LossReport(), int(now * 1000))
        backlog = any(e.backfill for e in readings)
        self.inflight[bid] = _InFlight(body, readings, alerts, now,
                                       now if first_sent is None else first_sent, backlog)
        self.stats.batches += 1
        return body

    def heartbeat(self, now: float) -> None:
        if not self.link_up or not self.connected.is_set():
            return
        ms = int(now * 1000)
        hb = Heartbeat(v=1, gateway=self.spec.id, ts=ms, uptime_s=round(now - self.started, 1),
                       buffer=BufferHealth(depth=len(self.readings), alerts=len(self.alerts)),
                       nodes={n: NodeHealth(last_seen=ms, frames_ok=1) for n in self.spec.nodes})
        self.client.publish(f"{self.topic}/heartbeat", encode(hb), qos=1)
        self.stats.heartbeats += 1

    @property
    def pending(self) -> int:
        return len(self.readings) + len(self.alerts) + len(self.inflight)

    # -- paho callbacks (on the loop: paho runs them from loop_read) ------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            return
        client.subscribe(f"{self.topic}/ack", qos=1)
        if self.inflight:  # the link dropped while carrying batches: a failure, as the uplink's
            self.sizer.failed()
        client.publish(f"{self.topic}/status",
                       encode(GatewayStatus("online", int(time.time() * 1000))), 1, True)
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        """A lost connection is counted by reason and made again a second later, as the
        gateway's paho loop does (the persistent session keeps what was in flight)."""
        self.connected.clear()
        if self.closing:
            return
        self.stats.disconnects[str(reason)] = self.stats.disconnects.get(str(reason), 0) + 1
        asyncio.get_running_loop().call_later(1.0, self._reconnect)

    def _reconnect(self) -> None:
        try:
            self.client.reconnect()
        except OSError:
            asyncio.get_running_loop().call_later(1.0, self._reconnect)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.settle(decode_ack(msg.payload), time.time())

    def settle(self, ack: Ack, now: float) -> None:
        """An ack from the hub at ``now``: the batch leaves the window, its readings count as
        stored, and the sizer hears how long it took."""
        f = self.inflight.pop(ack.batch, None)
        if f is None:
            return  # an ack for a batch resent and already settled: stale
        if ack.status == "rejected":
            self.stats.rejected_batches += 1
        else:
            self.sizer.delivered(len(f.readings) + len(f.alerts), len(f.body), now - f.sent,
                                 len(self.readings) + len(self.alerts))
            self.stats.readings_acked += len(f.readings) - sum(
                1 for r in ack.rejected_items if r.kind == "reading")
            self.stats.alerts_acked += len(f.alerts)
            self.stats.rejected_items += len(ack.rejected_items)
        self.stats.acks.append((now, len(f.readings), now - f.first_sent, f.backlog))
