"""The MQTT uplink: batches to ``siaga/gw/<id>/data``, deleted only on the hub's ack.

Threads: the transport's events (``mqtt_transport``: paho's network thread, or the thread
reading the sender process's frames) only record what happened (connected, an ack
arrived) under ``_cond`` and wake the uplink thread; the uplink thread alone peeks,
publishes, resends and acks the buffer. It blocks on the
condition with a deadline (next resend, batch age, heartbeat), never sleep-polls.

The broker's PUBACK is not the acknowledgement: only ``{"batch": id, "status":
"stored"}`` on ``siaga/gw/<id>/ack`` is (docs/uplink.md). A batch without an ack
``ack_timeout_s`` after its latest copy was published, or after the ack of a batch whose
latest copy went before it (it queued behind that one on the link, one TCP connection in
order; a late ack of a batch split in halves counts for the halves), is published again,
same rows, same batch id, unless it is bigger than the batch sizer's count by then: then its
halves go, under their own ids. How many batches take places on the link, resends included,
the in-flight window decides (``inflight_window``); a batch written off (missed its ack
twice, with acks in time since the last write-off) takes none (it goes again only with a
place to spare), and alerts' batches, new or overdue, may take one beyond the window; while
every batch taking a place has missed and write-off is barred, one new batch goes beyond it
as a probe, one at a time (``_probe_due``; a probe keeps its own place beyond the window, and
a new one goes once the last missed twice). A written-off batch goes to the buffer's rejected
table once three batches published after it were acked in time (``_reject_never_acked``):
no ack, nothing given up. From its second miss on (its first, while the
latest ack was late), a batch of readings goes again only after a growing wait beyond its
timeout (``backoff``, per batch; an ack in time starts every batch's wait over). A late ack
(of a batch that missed) shows a slow link, not a lost batch: it neither sizes the next
batch (the miss halved the count already) nor lets a batch be written off. New batches go
only while the entries in flight leave room under ``uplink.max_inflight_entries``.
docs/uplink.md, "Resends".
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import time
from collections import deque

from siaga.firmware_bridge.uplink import Ack, GatewayState, GatewayStatus
from siaga.firmware_bridge.uplink_codec import decode_ack, encode
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_rows import Batch, now_ms
from siaga.gateway.heartbeat import HealthSnapshot, HeartbeatSettings
from siaga.gateway.uplink.backoff import Backoff
from siaga.gateway.uplink.counters import UplinkCounters
from siaga.gateway.uplink.inflight_window import InflightWindow
from siaga.gateway.uplink.mqtt_inflight import REJECT_AFTER_ACKS, InFlightBatch
from siaga.gateway.uplink.mqtt_transport import MqttTransport, MqttTransportConfig
from siaga.gateway.uplink.sender_frames import Frame
from siaga.gateway.uplink.sender_process import ChildMqttTransport
from siaga.gateway.uplink.settings import UplinkSettings, check_tls_files
from siaga.gateway.uplink.worker import UplinkWorker, refused_rows

log = logging.getLogger(__name__)

class MqttUplink(UplinkWorker):
    thread_name = "uplink-mqtt"

    def __init__(
        self, settings: UplinkSettings, buffer: StoreAndForwardBuffer, *,
        health: HealthSnapshot | None = None,
        heartbeat: HeartbeatSettings | None = None,
    ) -> None:
        if not settings.gateway_id or settings.host is None:
            raise ValueError("MqttUplink needs uplink.gateway_id and uplink.host")
        check_tls_files(settings)  # at start, wherever the transport runs
        self._acks: deque[Ack] = deque()
        self._connected = False
        self._reconnected = False
        self._resend_all = False  # a new sender process: what the old one queued is gone
        self._inflight: dict[str, InFlightBatch] = {}  # oldest first: the window's order
        self._window = InflightWindow(settings.max_inflight)
        self._resend_rng = random.Random()  # the resends' backoff jitter (one for all batches)
        # Whether the next batch to miss twice may be written off: the first may (alone, a
        # batch the hub never acks would stall the uplink); after that only once an ack in
        # time (of a batch that never missed) has come, so a link on which acks come late
        # or not at all does not write off batch after batch, each freeing a place for a
        # new one on top of it.
        self._may_write_off = True
        self._acks_late = False  # the latest ack was of a batch that had missed: a slow link
        self._published = 0  # data publishes so far: the next copy's place on the link
        # Batches split in halves on a resend -> their latest copy's place, while a piece is in
        # flight: a late ack of the whole restarts the clocks of what went after it.
        self._split_places: dict[str, int] = {}
        super().__init__(settings, buffer, health=health, heartbeat=heartbeat)
        s = settings
        config = MqttTransportConfig(
            host=s.host or "", port=s.port, client_id=f"siaga-gw-{s.gateway_id}",
            keepalive_s=s.keepalive_s, tls=s.tls, ca=s.ca, cert=s.cert, key=s.key,
            username=s.username, password=s.password,
            reconnect_min_s=max(1, int(s.backoff_min_s)),
            reconnect_max_s=max(1, int(s.backoff_max_s)),
            # Room for every batch in flight plus heartbeats and the status message.
            max_inflight=s.max_inflight + 8,
            will_topic=s.topic("status"), will_payload=encode(GatewayStatus("offline")),
        )
        self._link: MqttTransport | ChildMqttTransport = (
            ChildMqttTransport(config, self._on_link_event,
                               Backoff(s.backoff_min_s, s.backoff_max_s))
            if s.sender == "process" else MqttTransport(config, self._on_link_event))

    # -- lifecycle -----------------------------------------------------------------

    def _connect(self) -> None:
        self._link.open()

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        # A clean disconnect suppresses the will, so say offline ourselves.
        self._link.close(self.settings.topic("status"), self._status("offline"),
                         min(timeout, 2.0))

    @property
    def connected(self) -> bool:
        return self._connected

    def counters(self) -> UplinkCounters:
        counters = super().counters()
        counters.inflight_window = self._window.size  # the uplink thread's; an int read
        return counters

    # -- the transport's events (paho's thread, or the sender's reader): record, wake --

    def _on_link_event(self, event: Frame) -> None:
        kind = event[0]
        if kind == "connected":
            self._link.subscribe(self.settings.topic("ack"))
            self._link.publish(self.settings.topic("status"), self._status("online"),
                               retain=True)
            log.info("uplink connected to %s:%d (session present: %s)", self.settings.host,
                     self.settings.port, event[1])
            with self._cond:
                self._connected = True
                self._reconnected = True
                self._cond.notify_all()
        elif kind == "message":
            self._on_message(event[1], event[2])
        elif kind == "disconnected":
            with self._cond:
                if self._connected and not self._stopping:
                    log.warning("uplink disconnected: %s", event[1])
                self._connected = False
        elif kind == "refused":
            log.warning("uplink broker refused the connection: %s", event[1])
        elif kind == "publish_failed":
            # paho keeps a QoS 1 message queued while disconnected; the ack timeout
            # covers the case where it does not.
            with self._cond:
                self._counters.send_errors += 1
        elif kind == "restarted":
            with self._cond:
                self._resend_all = True

    def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            ack = decode_ack(payload)
        except ValueError as exc:
            with self._cond:
                self._counters.bad_acks += 1
                first = self._counters.bad_acks == 1
            if first:
                log.warning("ignoring a malformed ack on %s: %s", topic, exc)
            return
        with self._cond:
            self._acks.append(ack)
            self._cond.notify_all()

    @staticmethod
    def _status(state: GatewayState) -> bytes:
        return encode(GatewayStatus(state, now_ms()))

    # -- the uplink thread ---------------------------------------------------------

    def _wanted(self) -> bool:
        return self._stopping or self._rearmed or bool(self._acks) or self._reconnected or (
            self._connected and self._room_for_new() and self._trigger.due(time.monotonic())
        )

    def _room_for_new(self) -> bool:
        return self._new_batch_room() is not None

    def _new_batch_room(self) -> str | None:
        """Where the next batch may go (under ``_cond``: the trigger): ``"window"``,
        ``"probe"`` (beyond the window, ``_probe_due``) or None (not now). Alerts lead: their
        batch may take one place beyond the window (behind full places it would only queue
        behind those batches on the link; a place, not more, so an alert flood stays bounded).
        Written-off batches take no place in the window, but all in flight count against a
        hard cap of twice ``max_inflight``, and their entries against
        ``max_inflight_entries``: what the uplink holds is bounded by configuration."""
        if len(self._inflight) >= 2 * self.settings.max_inflight:
            return None
        if self._room_for_entries() < self.settings.batch_max_count:
            return None  # a batch of batch_max_count must fit, or it waits for an ack
        taking = [f for f in self._inflight.values() if not f.written_off]
        if self._probe_due(taking):
            return "probe"
        alert = 1 if self._trigger.alert_waiting else 0
        return "window" if self._window.holds(len(taking) - alert) else None

    def _probe_due(self, taking: list[InFlightBatch]) -> bool:
        """Whether a new batch may go beyond the window as a probe: write-off is barred
        (until an ack in time), the latest ack was not late (a slow link gets nothing on
        top), no probe is in flight, and every batch taking a place has missed (its second
        miss or more, or one that waits outside the window). Two or more batches the hub
        never acks would otherwise stop the uplink: the first written off, the next held at
        the window's one place, refused write-off until an ack in time that no new batch
        could go to earn. The probe's ack in time lets the next be written off; one at a
        time, within the hard cap and the entries bound. A probe that missed twice no longer
        counts as in flight (it may be one the hub never acks too, and then only a new probe
        can earn the ack), so a stalled link holds a new probe per two misses of the last,
        up to the hard cap."""
        flights = self._inflight.values()
        return (not self._may_write_off and not self._acks_late and bool(taking)
                and not any(f.probe and f.misses < 2 for f in flights)
                and all(f.missed or f.misses >= 2 for f in taking))

    def _room_for_entries(self) -> int:
        """Entries a new batch may hold under ``uplink.max_inflight_entries``, written-off
        batches included (they are held too). The alerts' batch is not held to it, as it is
        not to the window: one batch of alerts may go beyond, while no other is in flight."""
        with self._cond:
            alert_waiting = self._trigger.alert_waiting
        flights = self._inflight.values()
        if alert_waiting and not any(f.batch.alerts for f in flights):
            return self._sizer.count
        held = sum(len(f.batch) for f in flights)
        return self.settings.max_inflight_entries - held

    def _may_go_again(self) -> set[str]:
        """The batches in flight the window lets go again once overdue: those at its oldest
        places. Written-off batches queue behind all others: they go again only with a place
        to spare (never blocking the rest, never a stalled link's whole window resent at once).
        Alerts lead: with none among those, the oldest batch of alerts beyond them may go
        again too, from one place beyond the window (as a new one may take one). A probe
        keeps its own place beyond the window: it went there, and a probe whose ack was lost
        once would otherwise never go again (at a window of 1 held by a batch the hub never
        acks), the uplink stopped for good."""
        flights = self._inflight.items()
        order = [b for b, f in flights if not f.written_off] + [
            b for b, f in flights if f.written_off]
        allowed = {b for place, b in enumerate(order) if self._window.holds(place)}
        if not any(self._inflight[b].batch.alerts for b in allowed):
            alerts = (b for b in order if b not in allowed and self._inflight[b].batch.alerts)
            allowed.update(itertools.islice(alerts, 1))
        # The live probe keeps its place beyond the window (its ack may be lost); one that
        # has missed twice waits for a spare place like a written-off batch, as a new
        # probe has gone by then.
        allowed.update(b for b, f in flights if f.probe and f.misses < 2)
        return allowed

    def _resend_after_s(self) -> float:
        return self.settings.ack_timeout_s

    def _deadline(self, now: float, next_heartbeat: float) -> float:
        """How long to block: only deadlines the thread can act on count, or it would spin
        (disconnected with overdue batches, data due while the window is full, or a missed
        batch outside the window: an ack, which wakes the thread, makes room)."""
        if not self._connected:
            return 60.0  # a reconnect, an ack or stop() wakes the thread
        waits = [next_heartbeat - now]
        allowed = self._may_go_again()
        waits += [max(f.sent_at + self.settings.ack_timeout_s, f.hold_until) - now
                  for batch_id, f in self._inflight.items()
                  if not f.missed or batch_id in allowed]
        if self._room_for_new():
            waits.append(self._trigger.seconds_until_due(now))
        return max(0.0, min(min(waits), 60.0))

    def _run(self) -> None:
        next_heartbeat = time.monotonic() if self._health else math.inf
        while True:
            with self._cond:
                self._cond.wait_for(self._wanted, self._deadline(time.monotonic(),
                                                                 next_heartbeat))
                self._rearmed = False
                if self._stopping:
                    return
                acks = list(self._acks)
                self._acks.clear()
                connected, reconnected = self._connected, self._reconnected
                resend_all = self._resend_all and connected
                self._reconnected = False
                self._resend_all = self._resend_all and not connected
            for ack in acks:
                self._settle(ack)
            if not connected:
                continue
            now = time.monotonic()
            if reconnected:
                self._relinked(now, resend_all)
            self._resend_overdue(now)
            self._send_due()
            if now >= next_heartbeat and self._health is not None:
                self._link.publish(self.settings.topic("heartbeat"), self._health.encode())
                with self._cond:
                    self._counters.heartbeats_sent += 1
                next_heartbeat = now + self._heartbeat_s

    def _relinked(self, now: float, resend_all: bool) -> None:
        """Connected again. The persistent session redelivers what was in flight; give the
        hub a full ack timeout from now before publishing it again ourselves. Unless the
        sender process was new (``resend_all``): what the old one had queued is gone, so all
        of it goes again as the window lets it (not a miss of any one batch)."""
        for f in self._inflight.values():
            f.restart(now, missed=resend_all)
            f.copies += 1  # redelivered by the session, or sent again at once
        # The link dropped while carrying batches: one failure. A new sender process says
        # nothing of the link's pace: the window keeps its size, so what the old one lost
        # all goes again at once.
        if self._inflight and resend_all:
            super()._attempt_failed()
        elif self._inflight:
            self._attempt_failed()

    def _settle(self, ack: Ack) -> None:
        batch_id, reason = ack.batch, ack.reason
        flight = self._inflight.pop(batch_id, None)
        now = time.monotonic()
        if flight is None:
            whole = self._split_places.pop(batch_id, None)
            if whole is not None:  # the halves queued behind the whole's latest copy
                self._restart_behind(whole, now)
            with self._cond:
                self._counters.stale_acks += 1
            return
        if flight.split_from:  # split wholes no piece of which is in flight are done
            live = {w for f in self._inflight.values() for w in f.split_from}
            self._split_places = {w: p for w, p in self._split_places.items() if w in live}
        self._window.acked()
        late = flight.misses > 0
        # An ack in time shows the link and the hub work: a batch that keeps missing while
        # others are acked so is one the hub never acks, and may be written off.
        self._may_write_off = self._may_write_off or not late
        self._acks_late = late
        if not late:  # so the batches waiting out a backoff go again as the window lets them
            for f in self._inflight.values():
                f.hold_until, f.backoff = 0.0, None
        self._restart_behind(flight.place, now)
        if not late:
            self._reject_never_acked(flight.place)
        if ack.status == "stored":
            # A late one's miss halved the count already (it counts once); one sent more than
            # once has no round trip to time: its ack may answer an older copy.
            if not late and flight.copies == 1:
                self._delivered(flight.batch, len(flight.body), now - flight.sent_at)
            refused = refused_rows(batch_id, ack)
            self._buffer.settle(flight.batch, refused)
            with self._cond:
                self._counters.batches_acked += 1
                self._counters.entries_acked += len(flight.batch) - len(refused)
                self._counters.items_rejected += len(refused)
        else:
            self._buffer.reject(flight.batch, reason or "rejected by the hub")
            log.warning("hub rejected batch %s (%d entries kept in the rejected table): %s",
                        batch_id, len(flight.batch), reason)
            with self._cond:
                self._counters.batches_rejected += 1

    def _reject_never_acked(self, place: int) -> None:
        """A batch published at ``place`` was acked in time: each written-off batch whose
        latest copy went before it counts one more ack past it, and at
        ``REJECT_AFTER_ACKS`` goes to the buffer's rejected table (counted, in the status,
        kept for an operator), as a batch the hub refused would. Kept, they would fill the
        hard cap one by one over a gateway's life and stop it. Alerts' batches too: held,
        they would stop the alerts after them as well; logged at error level."""
        for batch_id, f in list(self._inflight.items()):
            if not f.written_off or f.place > place:
                continue
            f.acked_past += 1
            if f.acked_past < REJECT_AFTER_ACKS:
                continue
            del self._inflight[batch_id]
            self._buffer.reject(f.batch, "never acked by the hub")
            level = logging.ERROR if f.batch.alerts else logging.WARNING
            log.log(level, "batch %s (%d entries, %d alerts) never acked by the hub while it "
                    "acked %d after it: kept in the rejected table", batch_id, len(f.batch),
                    len(f.batch.alerts), f.acked_past)
            with self._cond:
                self._counters.batches_rejected += 1

    def _restart_behind(self, place: int, now: float) -> None:
        """The copy at ``place`` crossed: what was published after it queued behind it on
        the link, and crosses from now."""
        for f in self._inflight.values():
            if f.place > place:
                f.restart(now)

    def _attempt_failed(self) -> None:
        super()._attempt_failed()
        self._window.missed()

    def _resend_overdue(self, now: float) -> None:
        """Batches newly overdue are one miss; those of them and of earlier misses that are
        among the window's oldest go again, the rest wait for acks to make room."""
        # The same sum as _deadline's wait, not ``now - sent_at >= timeout``: in floats the two
        # can disagree by a rounding, the wait come out 0 with the batch not yet overdue, and
        # the thread spin (it did, on a link where every copy missed).
        newly = [f for f in self._inflight.values()
                 if not f.missed and now >= f.sent_at + self.settings.ack_timeout_s]
        # Batches overdue together are one failure of the link; a written-off one's is not.
        if any(not f.written_off for f in newly):
            self._attempt_failed()
        for flight in newly:
            flight.missed = True
            flight.misses += 1
            if flight.misses >= 2 and not flight.written_off and self._may_write_off:
                flight.written_off = True
                self._may_write_off = False  # the next one waits for an ack in time
            if (flight.misses >= 2 or self._acks_late) and not flight.batch.alerts:
                # Missed again: the hub (or the link to it) is not answering; a growing wait
                # beyond the timeout spares the link. Alerts' batches keep the timeout's pace.
                if flight.backoff is None:
                    flight.backoff = Backoff(self.settings.backoff_min_s,
                                             self.settings.backoff_max_s, self._resend_rng)
                flight.hold_until = now + flight.backoff.next_delay()
        allowed = self._may_go_again()
        for batch_id, flight in list(self._inflight.items()):
            if not (flight.missed and batch_id in allowed) or now < flight.hold_until:
                continue
            flight.missed = False
            log.info("no ack for %s after %.0f s: sending it again", batch_id,
                     now - flight.sent_at)
            with self._cond:
                self._counters.batches_resent += 1
            if len(flight.batch) > self._sizer.count:
                # Published whole again, a batch grown for a fast link that has since slowed
                # would miss its ack for ever: its halves go instead, under their own ids (a
                # late ack for the whole is stale; the hub's ingest is idempotent).
                del self._inflight[batch_id]
                self._split_places[batch_id] = flight.place
                for half in flight.batch.split():
                    self._publish_batch(half, flight.split_from + (batch_id,),
                                        probe=flight.probe)
                continue
            flight.place = self._publish(flight.body)
            flight.sent_at = now
            flight.copies += 1
            flight.acked_past = 0  # the acks past its latest copy are what count

    def _send_due(self) -> None:
        while True:
            with self._cond:
                room = self._new_batch_room() if self._connected else None
                if room is None or not self._trigger.due(time.monotonic()):
                    return
            batch = self._take()
            if batch is None:
                return
            self._publish_batch(batch, probe=room == "probe")

    def _publish_batch(self, batch: Batch, split_from: tuple[str, ...] = (), *,
                       probe: bool = False) -> None:
        """All its pieces at once: they may take ``_inflight`` past the window. A probe's
        pieces (a body over the sizer's cap) are all probes: they are one batch taken from
        the buffer, each keeps its place beyond the window, and any of them acked in time
        earns the ack the probe is for."""
        for batch_id, piece, body in self._pieces(batch):
            self._inflight[batch_id] = InFlightBatch(piece, body, time.monotonic(),
                                                 self._publish(body), split_from=split_from,
                                                 probe=probe)
            with self._cond:
                self._counters.batches_sent += 1

    def _publish(self, body: bytes) -> int:
        """Publishes ``body``: its place on the link."""
        self._link.publish(self.settings.topic("data"), body)
        self._published += 1
        return self._published
