"""The core thread: the one owner of per-node state, counters, detection and buffer writes.

Sources put ``InboundBatch`` items on a bounded queue; the core takes everything
waiting (up to ``max_batch`` messages, gathered for ``group_commit_ms``, or up to
``group_commit_max_ms`` while they come one at a time, so they share a commit), turns
accepted messages into readings and, in a trickle, runs detection on live readings as they
come (an alert ends the gathering; after a late reading in the gathering the rest are held
and detected at its end, so their alerts may wait up to ``group_commit_max_ms``), commits
readings and alerts to the buffer in one transaction, prints them
(``--stdout``), and only then runs the batches' ``on_committed`` (the MQTT acks). It
wakes at least every ``TICK_S`` for time-driven work: detector ticks (silence), command
retries, the status file and the periodic counters log.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.channels import OUT_OF_RANGE
from siaga.firmware_bridge.reading import Reading
from siaga.gateway.config import GatewaySettings
from siaga.gateway.detection_order import ReorderWindow, detection_order
from siaga.gateway.downlink import CommandRequest, Downlink
from siaga.gateway.heartbeat import NodeSeen
from siaga.gateway.messages import InboundBatch, IngestError, NodeMessage, SourceAlert
from siaga.gateway.node_state import NodeTable, SeqVerdict
from siaga.gateway.stats import GatewayStats
from siaga.gateway.status_file import write_status

log = logging.getLogger(__name__)

TICK_S = 1.0
# The trickle bound of ``gateway.group_commit_max_ms`` (its doc in gateway/config.py
# states the rule). Well under Mosquitto's default in-flight window (20), which would
# otherwise stop sending before the window ends.
TRICKLE_MESSAGES = 8


def trickle_messages(settings: GatewaySettings) -> int:
    """``TRICKLE_MESSAGES``, or the MQTT 5 ``receive_maximum`` when smaller: the broker
    sends no more than that before our acks, which wait for the commit, so a gathering
    of that many is a full window, not a trickle (else every commit would wait the grown
    window). Under 3.1.1 the broker's max_inflight_messages is not known here; see
    docs/gateway.md for a broker that sets it under 8."""
    mqtt = settings.mqtt
    if mqtt.host and mqtt.protocol == "5":
        return min(TRICKLE_MESSAGES, mqtt.receive_maximum)
    return TRICKLE_MESSAGES


class Converter(Protocol):
    """An ``up`` message -> readings (counters to increments, clock-skew flags), how many
    of its values were refused as beyond their channel's accepted range, and whether a
    counter of it was reset. ``clock_skewed`` and ``late`` are the sample's: every reading
    of one message carries the same."""

    def convert(self, item: NodeMessage) -> tuple[list[Reading], int, bool]: ...

    def clock_offsets(self) -> Mapping[str, float]: ...


class Detection(Protocol):
    """Readings and link events in, alerts out: alerts only. The core reads nothing else of
    it (no levels, no scores), so the runtime's engine runs only the detectors that raise
    alerts (``EdgeAnalytics(..., alerts_only=True)``)."""

    def process(self, reading: Reading) -> list[Alert]: ...

    def tick(self, now: float) -> list[Alert]: ...

    def on_sequence_gap(self, node: str, missing: int, ts: float) -> list[Alert]: ...

    def on_node_reboot(self, node: str, ts: float) -> list[Alert]: ...

    def set_node_interval(self, node: str, interval_s: float) -> None: ...


class ReadingStore(Protocol):
    def append(self, readings: Sequence[Reading], alerts: Sequence[Alert],
               first_seen: float | None = None) -> None: ...


class Output(Protocol):
    def write(
        self, readings: Sequence[Reading], alerts: Sequence[Alert], errors: Sequence[IngestError]
    ) -> None: ...


class Stop:
    """Queue item that ends the core after everything queued before it is processed."""


class Core:
    def __init__(
        self,
        settings: GatewaySettings,
        inbox: queue.Queue[Any],
        converter: Converter,
        downlink: Downlink,
        *,
        detection: Detection | None = None,
        store: ReadingStore | None = None,
        output: Output | None = None,
        extra_status: Callable[[], dict[str, Any]] | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.inbox = inbox
        self.converter = converter
        self.downlink = downlink
        self.detection = detection
        self.reorder = ReorderWindow()
        self.store = store
        self.output = output
        self.extra_status = extra_status
        self.on_alert = on_alert
        self.clock = clock
        self.nodes = NodeTable()
        self.stats = GatewayStats()
        self.started_at = clock()
        self._reasons_logged: set[tuple[str, str]] = set()
        self._bugs_logged: set[type[BaseException]] = set()
        self._status_failing = False
        # Replaced whole (never mutated) at each status write, so the uplink thread's
        # heartbeat can read it without a lock.
        self.nodes_seen: Mapping[str, NodeSeen] = {}
        mono = time.monotonic()
        self._next_tick = mono
        self._next_status = mono
        self._next_stats_log = mono + settings.stats_log_s

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> None:
        """Process the queue until a ``Stop`` item; write a last status file on the way out."""
        try:
            while self._step():
                pass
            self._release(everything=True)
        finally:
            self.write_status()
            log.info("core stopped: %s", self.stats.summary_line())

    def _step(self) -> bool:
        items: list[Any] = []
        try:
            try:
                first = self.inbox.get(timeout=TICK_S)
            except queue.Empty:
                first = None
            if first is not None:
                self._gather(first, items)
            # After the data taken with them: a command may go to a node heard just now.
            for item in items:
                if isinstance(item, CommandRequest):
                    state = self.nodes.find(item.node)
                    self.downlink.send(item, state.source if state else None, self.clock())
            if time.monotonic() >= self._next_tick:
                self.on_time()
        except Exception:
            # A bug (or a buffer that cannot commit) must not stop ingestion: the batch
            # is lost to this process, its MQTT messages unacked (the broker sends them
            # again on the next session), and the core goes on.
            self.stats.internal_errors += 1
            log.exception("core: batch of %d items failed; continuing", len(items))
        return not any(isinstance(item, Stop) for item in items)

    def _gather(self, item: Any, items: list[Any]) -> None:
        """Everything waiting from ``item`` on, up to ``max_batch`` messages, gathered into
        one commit for ``group_commit_ms`` or, while messages come one at a time, for up to
        ``group_commit_max_ms``; taken items are appended to ``items``.

        Messages that arrive one at a time (a paced stream) would otherwise each be their
        own synchronous=FULL transaction, and at a low rate the commit, not the message,
        is the gateway's CPU: ~1 ms a commit at 20 messages/s against ~17 us a message in
        a flood (tests/benchmarks/bench_gateway_paced.py, docs/gateway.md "Performance").
        So the window grows for a trickle (the rule: ``gateway.group_commit_max_ms``'s
        doc in gateway/config.py; the bound: ``trickle_messages``); a faster stream ends
        it at ``group_commit_ms`` as before. A trickle's messages are converted as they
        come and its live readings detected, so an alert from them ends the gathering and
        commits at once, as long as no late reading came before it in the gathering: a
        late one (a backlog) holds the rest, live readings too, for detection in time
        order at the gathering's end, so their alerts may wait up to
        ``group_commit_max_ms`` (in a stream, at most ``group_commit_ms`` as before). The
        broker's acks wait for the commit, so nothing is acknowledged earlier than before.
        A ``Stop`` or a command ends the gathering at once.
        """
        s = self.settings
        # ``item`` was just taken from the queue: at a trickle's rate, its arrival. The
        # uplink's batch age counts from here, not from the commit the window delays.
        first_seen = time.monotonic()
        readings: list[Reading] = []
        alerts: list[Alert] = []
        errors: list[IngestError] = []
        batches: list[InboundBatch] = []
        count = 0
        base_s = s.group_commit_ms / 1000
        longest_s = max(base_s, s.group_commit_max_ms / 1000) if base_s > 0 else 0.0
        trickle = trickle_messages(s)
        held: list[Reading] = []  # converted, not yet detected
        dry_at: float | None = None
        ingested = 0  # batches[:ingested] are converted and detected
        while True:
            ended = False
            while item is not None:
                items.append(item)
                if not isinstance(item, InboundBatch):
                    ended = True
                    break
                batches.append(item)
                count += len(item.items)
                if count >= s.max_batch:
                    ended = True
                    break
                try:
                    item = self.inbox.get_nowait()
                except queue.Empty:
                    item = None
            if count < trickle:
                # A trickle is detected as it comes, so an alert need not wait for the
                # grown window; a stream is taken whole as before (per-arrival detection
                # cost the flood ~10% more CPU: bench_gateway_ingest --only kit --kit-live,
                # 16.2-19.3 -> 18.2-20.8 us a message, 2026-12-07 22:21 UTC)
                held.extend(self._ingest(batches[ingested:], readings, alerts, errors))
                ingested = len(batches)
                if not any(r.late for r in held):
                    # live readings only: detected now, so an alert commits at once. A
                    # late one (a backlog) holds the rest of the gathering, detected
                    # together at its end in time order (gateway/detection_order.py).
                    self._detect_new(held, alerts)
                    held = []
            if ended or alerts:
                break
            now = time.monotonic()
            if dry_at is None:
                dry_at = now
            deadline = dry_at + (base_s if count >= trickle else longest_s)
            if now >= deadline:
                break
            try:
                item = self.inbox.get(timeout=deadline - now)
            except queue.Empty:
                break
        if ingested < len(batches):
            held.extend(self._ingest(batches[ingested:], readings, alerts, errors))
        self._detect_new(held, alerts)
        if batches:
            self._finish(batches, readings, alerts, errors, first_seen)

    # -- messages -----------------------------------------------------------------------

    def _ingest(self, batches: Sequence[InboundBatch], readings: list[Reading],
                alerts: list[Alert], errors: list[IngestError]) -> list[Reading]:
        """Messages to readings, appended to the lists given; the new readings returned,
        for ``_detect_new`` (not yet detected)."""
        new: list[Reading] = []
        for batch in batches:
            for item in batch.items:
                if isinstance(item, NodeMessage):
                    try:
                        self._message(item, new, alerts)
                    except Exception as e:
                        # One message that trips a bug is reported like bad input; the
                        # rest of the batch goes on.
                        self.stats.internal_errors += 1
                        if type(e) not in self._bugs_logged:
                            self._bugs_logged.add(type(e))
                            log.exception("core: message from %s failed", item.source)
                        errors.append(IngestError(
                            item.source, item.received_at, "internal_error",
                            f"{type(e).__name__}: {e}", repr(item.message)[:300],
                        ))
                elif isinstance(item, SourceAlert):
                    alerts.append(item.alert)
                else:
                    self._error(item, errors)
        readings.extend(new)
        return new

    def _detect_new(self, new: list[Reading], alerts: list[Alert]) -> None:
        if self.detection is not None and new:
            self._detect(new, alerts)

    def _finish(self, batches: Sequence[InboundBatch], readings: list[Reading],
                alerts: list[Alert], errors: list[IngestError], first_seen: float) -> None:
        self._commit(readings, alerts, errors, first_seen)
        for batch in batches:
            if batch.on_committed is not None:
                batch.on_committed()

    def _message(self, item: NodeMessage, readings: list[Reading], alerts: list[Alert]) -> None:
        stats = self.stats
        msg = item.message
        source = item.source
        state = self.nodes.get(msg.node)
        verdict = None
        if msg.seq is not None:  # only an MQTT ack may leave it out
            seq = state.observe_seq(msg.seq, msg.kind == "hello")
            verdict = seq.verdict
            if verdict is SeqVerdict.DUPLICATE:
                stats.duplicate(source, msg.node)
                return
            if verdict is SeqVerdict.REBOOT:
                stats.reboot(source, msg.node)
                log.info("node %s rebooted (seq %d, %s)", msg.node, msg.seq, msg.kind)
                if self.detection is not None:
                    alerts.extend(self.detection.on_node_reboot(msg.node, item.received_at))
            elif seq.missing < 0:
                stats.gap(source, msg.node, seq.missing)  # a late frame: one less lost
            elif seq.missing:
                stats.gap(source, msg.node, seq.missing)
                if self.detection is not None:
                    alerts.extend(
                        self.detection.on_sequence_gap(msg.node, seq.missing, item.received_at)
                    )
        stats.frame_ok(source, msg.node)
        state.last_seen = item.received_at
        state.source = source
        kind = msg.kind
        if kind == "up":
            new, out_of_range, resets = self.converter.convert(item)
            for _ in range(out_of_range):
                stats.decode_error(source, OUT_OF_RANGE)
            if new:
                if verdict is not SeqVerdict.REBOOT and resets:
                    # A counter fell while the sequence went on: the node restarted its
                    # counting (a reboot that kept its frame counter, or a reset).
                    state.reboots += 1
                    stats.reboot(source, msg.node)
                readings.extend(new)
                # The clock flags are the sample's: all its readings carry the same.
                count, first = len(new), new[0]
                stats.readings(source, msg.node, count, count if first.clock_skewed else 0,
                               count if first.late else 0)
        elif kind == "hello":
            state.firmware = msg.fw
            state.channels = msg.channels
            state.interval_s = msg.interval_s
            if self.detection is not None and msg.interval_s is not None:
                self.detection.set_node_interval(msg.node, msg.interval_s)
            log.info("node %s hello: fw=%s channels=%s interval=%s s", msg.node,
                     msg.fw, ",".join(msg.channels), msg.interval_s)
        elif kind == "event":
            state.last_event = msg.code
            log.info("node %s event: %s%s", msg.node, msg.code,
                     f" on {msg.channel}" if msg.channel else "")
        elif kind == "ack" and msg.cseq is not None:
            self.downlink.on_ack(msg.node, msg.cseq, bool(msg.ok))

    def _detect(self, readings: list[Reading], alerts: list[Alert]) -> None:
        """Detection over a batch's readings in node time (gateway/detection_order.py)."""
        assert self.detection is not None
        ordered, beyond = detection_order(readings)
        for r in beyond:
            self.stats.too_late(r.node, 1)
        self._detect_ready(self.reorder.admit(ordered, time.monotonic()), alerts)

    def _release(self, everything: bool = False) -> None:
        """Detection over the reorder window's settled holds; their alerts committed."""
        if self.detection is None:
            return
        alerts: list[Alert] = []
        self._detect_ready(self.reorder.due(time.monotonic(), everything), alerts)
        if alerts:
            self._commit([], alerts, [])

    def _detect_ready(self, ready: Sequence[Reading], alerts: list[Alert]) -> None:
        assert self.detection is not None
        process = self.detection.process
        for r in ready:
            try:
                new = process(r)
            except Exception as e:
                self.stats.internal_errors += 1
                if type(e) not in self._bugs_logged:
                    self._bugs_logged.add(type(e))
                    log.exception("core: detection on a reading of %s failed", r.node)
                continue
            if new:
                alerts.extend([replace(a, late=True) for a in new] if r.late else new)

    def _error(self, err: IngestError, errors: list[IngestError]) -> None:
        self.stats.decode_error(err.source, err.reason)
        errors.append(err)
        key = (err.source, err.reason)
        if key not in self._reasons_logged:
            # Once per source and reason; the counters carry the rest.
            self._reasons_logged.add(key)
            log.warning("%s: %s (%s); further ones are only counted", err.source, err.reason,
                        err.detail)

    def _commit(
        self, readings: list[Reading], alerts: list[Alert], errors: list[IngestError],
        first_seen: float | None = None,
    ) -> None:
        self.stats.alerts += len(alerts)
        if self.store is not None and (readings or alerts):
            self.store.append(readings, alerts, first_seen)
            self.stats.commits += 1
        if self.on_alert is not None:
            for alert in alerts:
                self.on_alert(alert)
        if self.output is not None:
            self.output.write(readings, alerts, errors)

    # -- time-driven work ----------------------------------------------------------------

    def on_time(self) -> None:
        """At most once per ``TICK_S``: a busy core must not walk every node per batch."""
        self._next_tick = time.monotonic() + TICK_S
        now = self.clock()
        self._release()
        if self.detection is not None:
            alerts = self.detection.tick(now)
            if alerts:
                self._commit([], alerts, [])
        self.downlink.tick(now)
        mono = time.monotonic()
        if mono >= self._next_status:
            self._next_status = mono + self.settings.status_write_s
            self.write_status()
        if mono >= self._next_stats_log:
            self._next_stats_log = mono + self.settings.stats_log_s
            log.info("counters: %s queue=%d", self.stats.summary_line(mono),
                     self.inbox.qsize())

    def status(self) -> dict[str, Any]:
        now = self.clock()
        status: dict[str, Any] = {
            "v": 1,
            "gateway": self.settings.gateway_id,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "updated_at": now,
            "status_write_s": self.settings.status_write_s,
            "uptime_s": round(now - self.started_at, 1),
            "queue_depth": self.inbox.qsize(),
            **self.stats.snapshot(),
            "node_state": self.nodes.snapshot(),
            "clock_offsets_s": dict(self.converter.clock_offsets()),
        }
        status["commands"] = {
            "sent": self.downlink.sent, "acked": self.downlink.acked,
            "failed": self.downlink.failed, "pending": self.downlink.pending,
        }
        if self.extra_status is not None:
            status.update(self.extra_status())
        return status

    def write_status(self) -> None:
        offsets = self.converter.clock_offsets()
        self.nodes_seen = {
            name: NodeSeen(round(state.last_seen * 1000), c.frames_ok, c.gaps, offsets.get(name))
            for name, state, c in (
                (n, self.nodes.get(n), self.stats.node(n)) for n in self.nodes.names()
            )
        }
        try:
            write_status(self.settings.status_path, self.status())
            self._status_failing = False
        except OSError as e:
            if not self._status_failing:  # once per outage, not every few seconds
                log.warning("cannot write status file %s: %s", self.settings.status_path, e)
            self._status_failing = True
