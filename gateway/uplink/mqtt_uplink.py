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
halves go, under their own ids. Which batches go, new or again, and when, which are written
off and which given up to the buffer's rejected table is the resend policy's to say
(``mqtt_resend_policy``, pure: the window, probes, growing waits, write-offs); this module
keeps the thread, the link and the buffer calls. A late ack (of a batch that missed) shows a
slow link, not a lost batch: it does not size the next batch (the miss halved the count
already). docs/uplink.md, "Resends".
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque

from siaga.firmware_bridge.uplink import Ack, GatewayState, GatewayStatus
from siaga.firmware_bridge.uplink_codec import decode_ack, encode
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_rows import Batch, now_ms
from siaga.gateway.heartbeat import HealthSnapshot, HeartbeatSettings
from siaga.gateway.uplink.backoff import Backoff
from siaga.gateway.uplink.counters import UplinkCounters
from siaga.gateway.uplink.mqtt_inflight import InFlightBatch
from siaga.gateway.uplink.mqtt_resend_policy import NEVER_ACKED, ResendPolicy, Room
from siaga.gateway.uplink.mqtt_transport import MqttTransport, MqttTransportConfig
from siaga.gateway.uplink.sender_frames import Frame
from siaga.gateway.uplink.sender_process import ChildMqttTransport
from siaga.gateway.uplink.settings import UplinkSettings, check_tls_files
from siaga.gateway.uplink.worker import UplinkWorker, refused_rows

log = logging.getLogger(__name__)

# A batch awaiting its ack this long since its first copy is logged at error level, once an
# hour while it is held (its resends log at info): an alerts' batch the hub never acks is
# given up only by later alert acks, and an operator should hear of it.
HELD_LONG_S = 600.0
HELD_LOG_EVERY_S = 3600.0

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
        self._policy = ResendPolicy(settings)  # the batches in flight: the uplink thread's
        self._published = 0  # data publishes so far: the next copy's place on the link
        # A peek took readings alone while the alerts' places were full: alerts may wait.
        self._alerts_held_back = False
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
        counters.inflight_window = self._policy.window.size  # the uplink thread's; an int read
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

    def _new_batch_room(self) -> Room | None:
        """Where the next batch may go (under ``_cond``: the trigger), the policy says."""
        return self._policy.new_batch_room(self._trigger.alert_waiting, self._sizer.count)

    def _readings_only(self) -> bool:
        """Whether the next batch is readings alone: the alerts' places are all held
        (``ResendPolicy.alerts_places``); the alerts waiting stay in the buffer till one frees."""
        held_back = not self._policy.alerts_place_free()
        self._alerts_held_back = self._alerts_held_back or held_back
        return held_back

    def _room_for_entries(self) -> int:
        with self._cond:
            alert_waiting = self._trigger.alert_waiting
        return self._policy.room_for_entries(alert_waiting, self._sizer.count)

    def _resend_after_s(self) -> float:
        return self.settings.ack_timeout_s

    def _deadline(self, now: float, next_heartbeat: float) -> float:
        """How long to block: only deadlines the thread can act on count, or it would spin
        (disconnected with overdue batches, data due while the window is full, or a missed
        batch outside the window: an ack, which wakes the thread, makes room)."""
        if not self._connected:
            return 60.0  # a reconnect, an ack or stop() wakes the thread
        waits = [next_heartbeat - now, self._policy.next_resend_in(now)]
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
            now = time.monotonic()
            self._log_held_long(now)  # connected or not: an outage is when batches wait long
            if not connected:
                continue
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
        self._policy.relinked(now, resend_all)
        # The link dropped while carrying batches: one failure. A new sender process says
        # nothing of the link's pace: the window keeps its size, so what the old one lost
        # all goes again at once.
        if self._policy.flights and resend_all:
            super()._attempt_failed()
        elif self._policy.flights:
            self._attempt_failed()

    def _settle(self, ack: Ack) -> None:
        batch_id, reason = ack.batch, ack.reason
        now = time.monotonic()
        acked = self._policy.acked(batch_id, now)
        flight = acked.flight
        if flight is None:
            # A batch given up: its rejected rows keep its id (also across a restart).
            if ack.status == "stored" and self._buffer.holds_rejected(batch_id, NEVER_ACKED):
                self._stored_after_all(batch_id, ack)
                return
            with self._cond:
                self._counters.stale_acks += 1
            return
        for given_up_id, given_up in acked.given_up:
            self._give_up(given_up_id, given_up)
        self._note_held()
        if ack.status == "stored":
            # A late one's miss halved the count already (it counts once); one sent more than
            # once has no round trip to time: its ack may answer an older copy.
            if not acked.late and flight.copies == 1:
                self._delivered(flight.batch, len(flight.body), now - flight.sent_at)
            refused = refused_rows(batch_id, ack)
            self._buffer.settle(flight.batch, refused, batch_id)
            with self._cond:
                self._counters.batches_acked += 1
                self._counters.entries_acked += len(flight.batch) - len(refused)
                self._counters.items_rejected += len(refused)
        else:
            self._buffer.reject(flight.batch, reason or "rejected by the hub", batch_id)
            log.warning("hub rejected batch %s (%d entries kept in the rejected table): %s",
                        batch_id, len(flight.batch), reason)
            with self._cond:
                self._counters.batches_rejected += 1

    def _give_up(self, batch_id: str, flight: InFlightBatch) -> None:
        """A batch the hub never acks, given up (``ResendPolicy``): to the buffer's rejected
        table (counted, in the status, kept for an operator), as a batch the hub refused
        would; a batch with alerts logged at error level (its alerts never reached the hub)."""
        self._buffer.reject(flight.batch, NEVER_ACKED, batch_id)
        level = logging.ERROR if flight.alerts_lane else logging.WARNING
        log.log(level, "batch %s (%d entries, %d alerts) never acked by the hub while it acked "
                "%d after it: kept in the rejected table", batch_id, len(flight.batch),
                len(flight.batch.alerts), flight.acked_past)
        with self._cond:
            self._counters.batches_rejected += 1

    def _stored_after_all(self, batch_id: str, ack: Ack) -> None:
        """A batch given up as never acked was acked after all: the hub answered out of the
        order the link carried the batches (hubs sharing the subscription, one slow), stored
        it, and its rows are not lost. They leave the rejected table, found by the batch id
        they were given up under (also after a restart), but for items the ack refuses: those
        stay with the hub's reason, counted in ``items_rejected``, as a batch acked in time
        would have them (``settle``). Counted in ``rejected_acked_late`` when rows came back;
        ``batches_rejected`` left as it was (what was given up)."""
        refused = refused_rows(batch_id, ack)
        back, kept = self._buffer.unreject(batch_id, NEVER_ACKED, refused)
        log.warning("batch %s, given up as never acked, was acked late: the hub stored it (a "
                    "hub sharing the subscription answered out of order?); %d entries out of "
                    "the rejected table, %d kept there with the hub's reason", batch_id, back,
                    kept)
        with self._cond:
            self._counters.rejected_acked_late += 1 if back else 0
            self._counters.items_rejected += kept

    def _attempt_failed(self) -> None:
        super()._attempt_failed()
        self._policy.window.missed()

    def _resend_overdue(self, now: float) -> None:
        """Batches newly overdue are one miss; those the policy lets go again go now."""
        if self._policy.overdue(now):
            self._attempt_failed()
        for batch_id, flight in self._policy.due_again(now):
            log.info("no ack for %s after %.0f s: sending it again", batch_id,
                     now - flight.sent_at)
            with self._cond:
                self._counters.batches_resent += 1
            if len(flight.batch) > self._sizer.count and self._policy.may_split(flight):
                # Published whole again, a batch grown for a fast link that has since slowed
                # would miss its ack for ever: its halves go instead, under their own ids (a
                # late ack for the whole is stale; the hub's ingest is idempotent), when its
                # lane has the place the second half takes.
                self._policy.split(batch_id)
                for half in flight.batch.split():
                    self._publish_batch(half, flight.split_from + (batch_id,),
                                        probe=flight.probe, first_sent_at=flight.first_sent_at)
                continue
            self._policy.resent(flight, self._publish(flight.body), now)

    def _log_held_long(self, now: float) -> None:
        """Each batch awaiting its ack for over ``HELD_LONG_S``, at error level, once an hour
        (every pass of the thread, the link up or down)."""
        for batch_id, f in self._policy.flights.items():
            if now - f.first_sent_at >= HELD_LONG_S and now - f.held_logged_at >= HELD_LOG_EVERY_S:
                f.held_logged_at = now
                log.error("batch %s (%d entries, %d alerts%s) not acked by the hub %.0f s after "
                          "it first went, %d copies: held in flight", batch_id, len(f.batch),
                          len(f.batch.alerts), ", written off" if f.written_off else "",
                          now - f.first_sent_at, f.copies)

    def _note_held(self) -> None:
        """What awaits its ack, for ``counters()`` (the policy is the uplink thread's)."""
        flights = self._policy.flights.values()
        held = (len(flights), sum(f.written_off for f in flights),
                min((f.first_sent_at for f in flights), default=None))
        with self._cond:
            self._held = held

    def _send_due(self) -> None:
        # Alerts held back in the buffer while their places were full go first again once
        # one frees (an ack, or a give-up): the trigger forgot them at the readings' peek.
        # Those past the alerts' cursor only: counting the ones in flight set the flag with
        # none waiting, and a readings batch took the alerts' extra place.
        if self._alerts_held_back and self._policy.alerts_place_free():
            self._alerts_held_back = False
            alerts = self._buffer.alerts_waiting()
            with self._cond:
                self._trigger.alerts_left(alerts, time.monotonic())
        try:
            self._send_more()
        finally:
            self._note_held()

    def _send_more(self) -> None:
        while True:
            with self._cond:
                room = self._new_batch_room() if self._connected else None
                if room is None or not self._trigger.due(time.monotonic()):
                    return
            batch = self._take()
            if batch is None:
                return
            left = self._publish_batch(batch, probe=room == "probe",
                                       places=self._policy.places_left(bool(batch.alerts)))
            if left is not None:  # no place for its last pieces: they wait in the buffer
                self._buffer.give_back(left)
                with self._cond:
                    if left.alerts:
                        self._trigger.alerts_left(len(left), time.monotonic())
                    else:
                        self._trigger.backlog(len(left), time.monotonic())
                return

    def _publish_batch(self, batch: Batch, split_from: tuple[str, ...] = (), *,
                       probe: bool = False, first_sent_at: float = 0.0,
                       places: int | None = None) -> Batch | None:
        """Its pieces at once (a body over the sizer's cap is split): they may take those in
        flight past the window, but no more than ``places`` (None: all; a resend's halves,
        which ``may_split`` placed), so a new batch split so keeps to its lane's places and
        the hard cap. What had no place, as one batch (its rows the last of ``batch``), or
        None. A probe's pieces are all probes: they are one batch taken from the buffer, each
        keeps its place beyond the window, and any of them acked in time earns the ack the
        probe is for."""
        pieces = list(self._pieces(batch))
        if places is not None and len(pieces) > places:
            left = [e for _, piece, _ in pieces[places:] for e in piece.entries]
            pieces = pieces[:places]
        else:
            left = []
        for batch_id, piece, body in pieces:
            self._policy.sent(batch_id, InFlightBatch(piece, body, time.monotonic(),
                                                      self._publish(body),
                                                      split_from=split_from, probe=probe,
                                                      first_sent_at=first_sent_at))
            with self._cond:
                self._counters.batches_sent += 1
        return batch.subset(left) if left else None

    def _publish(self, body: bytes) -> int:
        """Publishes ``body``: its place on the link."""
        self._link.publish(self.settings.topic("data"), body)
        self._published += 1
        return self._published
