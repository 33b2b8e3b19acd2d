"""Many gateways in one process, speaking the real MQTT uplink (docs/uplink.md) to a hub's broker.

For load tests at province scale (tests/benchmarks/bench_province.py): a thousand gateway
processes with their own Python each would not fit a small machine, so one fleet process runs
a few hundred *logical* gateways, each with its own MQTT connection (client id
``siaga-gw-<id>``, persistent session, retained status), its own buffer, row ids, batches,
in-flight window and ack handling as the gateway's uplink does it (``gateway/uplink``):

- nodes report every ``cadence_s`` at their own phase in the cadence, one reading per channel;
- a batch is taken when ``batch_max_count`` readings wait, when an alert waits (alerts travel
  alone and first), or when the oldest waiting reading is ``batch_max_age_s`` old;
- at most ``max_inflight`` batches await their ack; one without an ack after
  ``ack_timeout_s`` is published again unchanged; entries buffered more than
  ``backfill_after_s`` before their batch is built are marked ``backfill``;
- a heartbeat every ``heartbeat_s``.

Records are the contract's own (``firmware_bridge.uplink``), encoded by its encoders. All
connections of a process share one asyncio loop through paho's external-loop callbacks
(paho's own asyncio example), so the fleet costs little next to the hub it measures.

The fleet follows a ``FleetPlan`` of wall-clock times (storm alerts, an outage with a
backlog, probe alerts) and returns ``FleetResult`` counts for the benchmark to check.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import socket
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
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
    decode_ack,
    encode,
    encode_batch,
    entry_payload,
)
from siaga.firmware_bridge.vocabulary import Hazard

__all__ = ["FleetAlert", "FleetGateway", "FleetPlan", "FleetResult", "GatewayStats",
           "LogicalGateway", "run_fleet", "run_fleet_process", "split"]

CHANNELS: tuple[tuple[str, str], ...] = (("vwc", "%"), ("tilt", "deg"), ("batt", "V"),
                                          ("rssi", "dBm"), ("temp", "C"), ("rain", "mm"))


@dataclass(frozen=True, slots=True)
class FleetGateway:
    """One logical gateway: its id, the site its nodes stand at, and its node ids."""

    id: str
    site: str
    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FleetAlert:
    """An alert a gateway raises at wall time ``at``; ``explanation`` is the marker the
    benchmark finds again on the live stream."""

    at: float
    gateway: str
    node: str
    site: str
    hazard: Hazard
    level: int
    previous_level: int
    explanation: str


@dataclass(frozen=True, slots=True)
class FleetPlan:
    broker_host: str
    broker_port: int
    gateways: tuple[FleetGateway, ...]
    start: float  # wall clock: nodes start reporting
    end: float  # wall clock: nodes stop reporting; the fleet then drains and returns
    channels: int = 4
    cadence_s: float = 60.0
    alerts: tuple[FleetAlert, ...] = ()
    # Gateways whose link is down over [outage_start, outage_end): they keep buffering, and
    # at outage_end they also hold ``outage_backlog_s`` of older readings (a longer outage
    # than the benchmark waits for), then drain at full speed.
    outage: frozenset[str] = frozenset()
    outage_start: float = 0.0
    outage_end: float = 0.0
    outage_backlog_s: float = 0.0
    batch_max_count: int = 500
    batch_max_age_s: float = 1.0
    max_inflight: int = 4
    ack_timeout_s: float = 30.0
    backfill_after_s: float = 60.0
    heartbeat_s: float = 30.0
    drain_timeout_s: float = 300.0
    seed: int = 0


@dataclass(slots=True)
class GatewayStats:
    readings: int = 0  # distinct readings generated (each must be stored once)
    readings_acked: int = 0
    alerts_acked: int = 0
    batches: int = 0
    resends: int = 0
    rejected_batches: int = 0
    rejected_items: int = 0
    heartbeats: int = 0
    # (wall time of the ack, readings it settled, ack latency s, backlog batch?)
    acks: list[tuple[float, int, float, bool]] = field(default_factory=list)
    alert_sent: dict[str, float] = field(default_factory=dict)  # marker -> wall publish time
    drained_at: float | None = None  # outage gateways: buffer empty after the outage
    disconnects: dict[str, int] = field(default_factory=dict)  # by reason


@dataclass(frozen=True, slots=True)
class FleetResult:
    gateways: dict[str, GatewayStats]
    connect_s: float
    unfinished: int  # entries still buffered or in flight when the fleet gave up
    cpu_s: float


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
    readings: int
    alerts: int
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
        for name, unit in CHANNELS[:self.plan.channels]:
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
        held = list(self.readings)
        self.readings.clear()
        for node in self.spec.nodes:
            t = start + self.phase[node]
            while t < self.plan.outage_start:
                self.report(node, t)
                t += self.plan.cadence_s
        ordered = sorted(self.readings, key=lambda e: e.queued)
        self.readings = deque(ordered + held)
        # row ids must rise in buffer order, as the gateway's SQLite rowids do
        self.readings = deque(_Entry(self.next_id + i, e.payload, e.backfill, e.queued)
                              for i, e in enumerate(self.readings))
        self.next_id += len(self.readings)

    # -- uplink ---------------------------------------------------------------------------

    def pump(self, now: float) -> None:
        """Publish what the gateway's uplink would publish now; resend overdue batches."""
        if not self.link_up or not self.connected.is_set():
            return
        for f in self.inflight.values():
            if now - f.sent > self.plan.ack_timeout_s:
                f.sent = now
                self.stats.resends += 1
                self.client.publish(f"{self.topic}/data", f.body, qos=1)
        while (batch := self.next_batch(now)) is not None:
            self.client.publish(f"{self.topic}/data", batch, qos=1)

    def next_batch(self, now: float) -> bytes | None:
        """The next batch the uplink would send now (counted in flight), or None: the window
        is full, nothing waits, or the waiting readings are neither many nor old enough."""
        if len(self.inflight) >= self.plan.max_inflight:
            return None
        if self.alerts:
            n = min(len(self.alerts), self.plan.batch_max_count)
            return self._batch([], [self.alerts.popleft() for _ in range(n)], now)
        if not self.readings:
            return None
        full = len(self.readings) >= self.plan.batch_max_count
        if not full and now - self.readings[0].queued < self.plan.batch_max_age_s:
            return None
        n = min(len(self.readings), self.plan.batch_max_count)
        return self._batch([self.readings.popleft() for _ in range(n)], [], now)

    def _batch(self, readings: list[_Entry], alerts: list[_Entry], now: float) -> bytes:
        def marked(e: _Entry) -> _Entry:
            old = now - e.queued > self.plan.backfill_after_s
            return _Entry(e.id, e.payload, old, e.queued, e.alert) if old else e

        readings, alerts = [marked(e) for e in readings], [marked(e) for e in alerts]
        ids = [e.id for e in alerts + readings]
        bid = f"{self.spec.id}:{min(ids):012d}-{max(ids):012d}"
        body = encode_batch(self.spec.id, bid, readings, alerts, LossReport(), int(now * 1000))
        backlog = any(e.backfill for e in readings)
        self.inflight[bid] = _InFlight(body, len(readings), len(alerts), now, now, backlog)
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
        self.settle(decode_ack(msg.payload))

    def settle(self, ack: Ack) -> None:
        """An ack from the hub: the batch leaves the window, its readings count as stored."""
        f = self.inflight.pop(ack.batch, None)
        if f is None:
            return  # an ack for a batch resent and already settled: stale
        now = time.time()
        if ack.status == "rejected":
            self.stats.rejected_batches += 1
        else:
            self.stats.readings_acked += f.readings - sum(
                1 for r in ack.rejected_items if r.kind == "reading")
            self.stats.alerts_acked += f.alerts
            self.stats.rejected_items += len(ack.rejected_items)
        self.stats.acks.append((now, f.readings, now - f.first_sent, f.backlog))


class _ExternalLoop:
    """paho clients driven by one asyncio loop (paho's asyncio example, for many clients)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def attach(self, client: mqtt.Client) -> None:
        client.on_socket_open = self._open
        client.on_socket_close = self._close
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._done_write

    def _open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.add_reader(sock, client.loop_read)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 18)

    def _close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)

    def _want_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def _done_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.loop.remove_writer(sock)


async def _fleet(plan: FleetPlan) -> FleetResult:
    loop = asyncio.get_running_loop()
    rng = random.Random(plan.seed)
    gws = {g.id: LogicalGateway(g, plan, rng) for g in plan.gateways}
    driver = _ExternalLoop(loop)
    t0 = time.perf_counter()
    for gw in gws.values():
        driver.attach(gw.client)
        gw.client.connect(plan.broker_host, plan.broker_port, keepalive=60)
        await asyncio.sleep(0)  # let the CONNACKs of earlier clients in

    async def misc() -> None:
        while True:
            for gw in gws.values():
                gw.client.loop_misc()
            await asyncio.sleep(1.0)

    misc_task = loop.create_task(misc())
    await asyncio.wait_for(asyncio.gather(*(g.connected.wait() for g in gws.values())), 120)
    connect_s = time.perf_counter() - t0
    alerts = sorted(plan.alerts, key=lambda a: a.at)
    # (due, gateway, node): every node's next report, earliest first
    due: list[tuple[float, str, str]] = [(plan.start + gw.phase[n], gid, n)
                                         for gid, gw in gws.items() for n in gw.spec.nodes]
    heapq.heapify(due)
    backlog_filled = False
    while True:
        now = time.time()
        while due and due[0][0] <= min(now, plan.end):
            at, gid, node = heapq.heappop(due)
            gws[gid].report(node, at)
            heapq.heappush(due, (at + plan.cadence_s, gid, node))
        while alerts and alerts[0].at <= now:
            a = alerts.pop(0)
            gws[a.gateway].raise_alert(a, now)
        if plan.outage:
            link_up = not (plan.outage_start <= now < plan.outage_end)
            if link_up and not backlog_filled and now >= plan.outage_end:
                backlog_filled = True
                for gid in plan.outage:
                    gws[gid].fill_backlog()
            for gid in plan.outage:
                gws[gid].link_up = link_up
        for gw in gws.values():
            if now < plan.end and now >= gw.next_heartbeat:
                gw.heartbeat(now)
                gw.next_heartbeat += plan.heartbeat_s
            gw.pump(now)
            if gw.in_outage and gw.stats.drained_at is None and backlog_filled \
                    and gw.pending == 0:
                gw.stats.drained_at = now
        if now >= plan.end and not alerts:
            pending = sum(g.pending for g in gws.values())
            if pending == 0 or now > plan.end + plan.drain_timeout_s:
                break
        await asyncio.sleep(0.05)
    unfinished = sum(g.pending for g in gws.values())
    for gw in gws.values():
        gw.client.publish(f"{gw.topic}/status",
                          encode(GatewayStatus("offline", int(time.time() * 1000))), 1, True)
    await asyncio.sleep(0.5)
    for gw in gws.values():
        gw.closing = True
        gw.client.disconnect()
    misc_task.cancel()
    return FleetResult({g: gw.stats for g, gw in gws.items()}, connect_s, unfinished,
                       time.process_time())


def run_fleet(plan: FleetPlan) -> FleetResult:
    """Run ``plan`` to its end and until every entry is acknowledged (or the drain times out)."""
    return asyncio.run(_fleet(plan))


def run_fleet_process(plan: FleetPlan, conn: Connection) -> None:
    """A ``multiprocessing`` target: runs the plan, sends the ``FleetResult`` (or the error
    text) down ``conn``."""
    try:
        conn.send(run_fleet(plan))
    except BaseException as exc:  # the parent must hear of a dead fleet, not wait forever
        conn.send(f"{type(exc).__name__}: {exc}")
        raise


def split(gateways: Sequence[FleetGateway], parts: int) -> list[tuple[FleetGateway, ...]]:
    """``gateways`` dealt round-robin into ``parts`` fleets."""
    return [tuple(gateways[i::parts]) for i in range(parts)]
