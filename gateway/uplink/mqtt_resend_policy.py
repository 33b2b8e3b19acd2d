"""The MQTT uplink's batches in flight and its rules for them: when a new batch may go (in the
window, beyond it as a probe, or not now), which overdue batch goes again and when, which is
written off, and which is given up to the rejected table. docs/uplink.md, "In-flight window"
and "Resends and what is held".

Pure: no I/O, no thread, no clock (``now`` is an argument, monotonic seconds). The MQTT uplink
(mqtt_uplink.py) publishes, acks the buffer, counts and logs as these say; the batch sizer
and the trigger stay its own, their readings passed in.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Literal

from siaga.gateway.uplink.backoff import Backoff
from siaga.gateway.uplink.inflight_window import InflightWindow
from siaga.gateway.uplink.mqtt_inflight import REJECT_AFTER_ACKS, InFlightBatch
from siaga.gateway.uplink.settings import UplinkSettings

__all__ = ["NEVER_ACKED", "STALL_TIMEOUTS", "Acked", "ResendPolicy", "Room"]

# The rejected table's reason for a batch given up.
NEVER_ACKED = "never acked by the hub"

# Failures of the link this many ack timeouts after the first one, with no ack in time
# between, are a stall (``ResendPolicy.overdue``). Two were too few: a ~60 s dropout (a miss,
# its copy missing 30 s later) passed for one, and each started a batch's acks-past count
# over outside ACKS_PAST_RESTARTS, a batch the hub never acks held for ever on a flaky link.
STALL_TIMEOUTS = 4

# Where a new batch may go (``ResendPolicy.new_batch_room``): in the window, or beyond it.
Room = Literal["window", "probe"]


@dataclass(slots=True)
class Acked:
    """What an ack did: the batch it settled (None: none in flight had its id; a batch
    given up finds its rows in the buffer's rejected table by its id), whether it was late
    (the batch had missed), and the written-off batches it gave up."""

    flight: InFlightBatch | None
    late: bool = False
    given_up: list[tuple[str, InFlightBatch]] = field(default_factory=list)


class ResendPolicy:
    """Not locked: the uplink thread alone feeds and reads it."""

    def __init__(self, settings: UplinkSettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.flights: dict[str, InFlightBatch] = {}  # oldest first: the window's order
        self.window = InflightWindow(settings.max_inflight)
        self.rng = rng or random.Random()  # the resends' backoff jitter (one for all batches)
        # Whether the next batch to miss twice may be written off: the first may (alone, a
        # batch the hub never acks would stall the uplink); after that only once an ack in
        # time (of a batch that never missed) has come, so a link on which acks come late
        # or not at all does not write off batch after batch, each freeing a place for a
        # new one on top of it.
        self.may_write_off = True
        self.acks_late = False  # the latest ack was of a batch that had missed: a slow link
        self.readings_in_time = False  # the latest ack of a readings-only batch was in time
        # Batches split in halves on a resend -> their latest copy's place, while a piece is in
        # flight: a late ack of the whole restarts the clocks of what went after it.
        self.split_places: dict[str, int] = {}
        # The first failure of the link since the latest ack in time (either lane): a failure
        # STALL_TIMEOUTS ack timeouts or more after it, with no ack in time between, is a
        # stall (``forget_acks_past``'s, once per batch outside its budget), not a flap.
        self.failing_since: float | None = None

    # -- new batches ---------------------------------------------------------------

    def new_batch_room(self, alert_waiting: bool, count: int) -> Room | None:
        """Where the next batch may go: ``"window"``, ``"probe"`` (beyond the window,
        ``probe_due``) or None (not now); ``count`` is the batch sizer's. Alerts lead: their
        batch may take one place beyond the window (behind full places it would only queue
        behind those batches on the link; a place, not more, so an alert flood stays bounded).
        Written-off batches take no place in the window, but all in flight count against a
        hard cap of twice ``max_inflight``, and their entries against
        ``max_inflight_entries``: what the uplink holds is bounded by configuration. With the
        alerts' places full (``alerts_places``) a waiting alert takes none of this: the next
        batch is readings (the uplink peeks them alone), the alerts wait in the buffer."""
        if len(self.flights) >= self.hard_cap:
            return None
        alert_waiting = alert_waiting and self.alerts_place_free()
        if not alert_waiting and not self.readings_place_free():
            return None  # the last place is the alerts' (``readings_places``)
        if self.room_for_entries(alert_waiting, count) < self.settings.batch_max_count:
            return None  # a batch of batch_max_count must fit, or it waits for an ack
        taking = [f for f in self.flights.values() if not f.written_off]
        if self.probe_due(taking):
            return "probe"
        alert = 1 if alert_waiting else 0
        return "window" if self.window.holds(len(taking) - alert) else None

    @property
    def hard_cap(self) -> int:
        """Batches in flight at most, written-off ones included: twice ``max_inflight``."""
        return 2 * self.settings.max_inflight

    @property
    def alerts_places(self) -> int:
        """The hard cap's places batches with alerts may hold: half of it, at least one. The
        readings' lane keeps the rest, so a hub whose alerts' lane (its database) never
        answers holds alerts in flight and in the buffer, none rejected, while the readings
        it acks still flow; the alerts go first again as a place of their share frees."""
        return max(1, self.hard_cap // 2)

    @property
    def readings_places(self) -> int:
        """The hard cap's places readings-only batches may hold: all but one. The mirror of
        ``alerts_places``: a hub whose readings' store never answers would otherwise fill the
        cap with readings (the alerts' acks give none of them up, they are the other lane's)
        and a new alert would wait behind them for good; the place left is the alerts'."""
        return self.hard_cap - 1

    def readings_place_free(self) -> bool:
        """Whether a new readings-only batch may go: their places are not all held."""
        return sum(not f.alerts_lane for f in self.flights.values()) < self.readings_places

    def alerts_place_free(self) -> bool:
        """Whether a new batch with alerts may go: their share of places is not all held."""
        return sum(f.alerts_lane for f in self.flights.values()) < self.alerts_places

    def probe_due(self, taking: list[InFlightBatch]) -> bool:
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
        flights = self.flights.values()
        return (not self.may_write_off and not self.acks_late and bool(taking)
                and not any(f.probe and f.misses < 2 for f in flights)
                and all(f.missed or f.misses >= 2 for f in taking))

    def room_for_entries(self, alert_waiting: bool, count: int) -> int:
        """Entries a new batch may hold under ``uplink.max_inflight_entries``, written-off
        batches included (they are held too). The alerts' batch is not held to it, as it is
        not to the window: one batch of alerts may go beyond (up to ``count``, the sizer's),
        while no other is in flight."""
        flights = self.flights.values()
        if alert_waiting and self.alerts_place_free() and not any(f.batch.alerts for f in flights):
            return count
        held = sum(len(f.batch) for f in flights)
        return self.settings.max_inflight_entries - held

    def sent(self, batch_id: str, flight: InFlightBatch) -> None:
        """A new batch (or a piece of one split) was published."""
        self.flights[batch_id] = flight

    # -- resends -------------------------------------------------------------------

    def may_go_again(self) -> set[str]:
        """The batches in flight the window lets go again once overdue: those at its oldest
        places. Written-off batches queue behind all others: they go again only with a place
        to spare (never blocking the rest, never a stalled link's whole window resent at once).
        Alerts lead: with none among those, the oldest batch of alerts beyond them may go
        again too, from one place beyond the window (as a new one may take one). A probe
        keeps its own place beyond the window: it went there, and a probe whose ack was lost
        once would otherwise never go again (at a window of 1 held by a batch the hub never
        acks), the uplink stopped for good. A written-off batch acked past (a batch published
        after its latest copy was acked in time) goes again once (that copy may never have
        reached the hub: a broker that dropped it in an outage), then not while acks past it
        come: the hub answers the others, and each copy started over the count that gives it
        up (docs/uplink.md, "A batch the hub never acks is given up", says why not more)."""
        flights = self.flights.items()
        order = [b for b, f in flights if not f.written_off] + [
            b for b, f in flights
            if f.written_off and not (f.acked_past and f.resent_past_acks)]
        allowed = {b for place, b in enumerate(order) if self.window.holds(place)}
        if not any(self.flights[b].alerts_lane for b in allowed):
            alerts = (b for b in order if b not in allowed and self.flights[b].alerts_lane)
            allowed.update(itertools.islice(alerts, 1))
        # The live probe keeps its place beyond the window (its ack may be lost); one that
        # has missed twice waits for a spare place like a written-off batch, as a new
        # probe has gone by then.
        allowed.update(b for b, f in flights if f.probe and f.misses < 2)
        return allowed

    def next_resend_in(self, now: float) -> float:
        """Seconds until a batch the thread can act on is due (inf: none): a missed batch
        outside the window counts not (an ack, which wakes the thread, makes room)."""
        allowed = self.may_go_again()
        timeout = self.settings.ack_timeout_s
        return min((max(f.sent_at + timeout, f.hold_until) - now
                    for batch_id, f in self.flights.items()
                    if not f.missed or batch_id in allowed), default=float("inf"))

    def overdue(self, now: float) -> bool:
        """Batches newly overdue at ``now`` are one miss each (a write-off at the second,
        while allowed; a growing wait before the next copy): whether that is a failure of
        the link (the uplink then halves the window and the batch size)."""
        # The same sum as next_resend_in's wait, not ``now - sent_at >= timeout``: in floats the
        # two can disagree by a rounding, the wait come out 0 with the batch not yet overdue,
        # and the thread spin (it did, on a link where every copy missed).
        newly = [f for f in self.flights.values()
                 if not f.missed and now >= f.sent_at + self.settings.ack_timeout_s]
        # Batches overdue together are one failure of the link; a written-off one's is not
        # (written off before this miss: one written off at it counts, as the link's).
        # Nor an alerts' batch's while the readings' lane acks in time: the hub's alerts'
        # lane (its database) is down, not the link, whose window and batch size the
        # readings then need.
        link_failed = any(not f.written_off and not (f.alerts_lane and self.readings_in_time)
                          for f in newly)
        if link_failed:  # a copy in the failure may have been lost: each goes again once more
            if self.failing_since is None:
                self.failing_since = now
            stall = now - self.failing_since >= STALL_TIMEOUTS * self.settings.ack_timeout_s
            for f in self.flights.values():
                f.forget_acks_past(stall=stall)
        for flight in newly:
            flight.missed = True
            flight.misses += 1
            if flight.misses >= 2 and not flight.written_off and self.may_write_off:
                flight.written_off = True
                self.may_write_off = False  # the next one waits for an ack in time
            if (flight.misses >= 2 or self.acks_late) and not flight.alerts_lane:
                # Missed again: the hub (or the link to it) is not answering; a growing wait
                # beyond the timeout spares the link. Alerts' batches keep the timeout's pace.
                if flight.backoff is None:
                    flight.backoff = Backoff(self.settings.backoff_min_s,
                                             self.settings.backoff_max_s, self.rng)
                flight.hold_until = now + flight.backoff.next_delay()
        return link_failed

    def due_again(self, now: float) -> list[tuple[str, InFlightBatch]]:
        """The missed batches to publish again now (the window lets them, their wait is
        out), oldest first; each is no longer missed. The uplink publishes each whole
        (``resent``) or in halves (``split``)."""
        allowed = self.may_go_again()
        due = [(b, f) for b, f in self.flights.items()
               if f.missed and b in allowed and now >= f.hold_until]
        for _, flight in due:
            flight.missed = False
        return due

    def resent(self, flight: InFlightBatch, place: int, now: float) -> None:
        """``flight`` was published again, at ``place`` on the link."""
        flight.place = place
        flight.sent_at = now
        flight.copies += 1
        flight.resent_past_acks = flight.resent_past_acks or flight.acked_past > 0
        flight.acked_past = 0  # the acks past its latest copy are what count

    def may_split(self, flight: InFlightBatch) -> bool:
        """Whether ``flight`` may go again as two halves: the one place more they take fits
        its lane's places (``alerts_places``, ``readings_places``) and the hard cap. Unchecked,
        a split alerts' batch took past its share and the cap and no readings batch could go;
        with no place to spare it goes again whole (a split adds a batch, no entries)."""
        return self.places_left(flight.alerts_lane) > 0

    def places_left(self, alerts_lane: bool) -> int:
        """New batches of the alerts' lane or not (``alerts_lane``) that may go in flight: the
        places left of its lane (``alerts_places``, ``readings_places``) and the hard cap."""
        lane = sum(f.alerts_lane == alerts_lane for f in self.flights.values())
        places = self.alerts_places if alerts_lane else self.readings_places
        return max(0, min(places - lane, self.hard_cap - len(self.flights)))

    def split(self, batch_id: str) -> InFlightBatch:
        """``batch_id`` goes again as its halves, under their own ids (``sent``): the whole
        leaves, its place kept while a piece is in flight (a late ack for it is stale)."""
        flight = self.flights.pop(batch_id)
        self.split_places[batch_id] = flight.place
        return flight

    def relinked(self, now: float, resend_all: bool) -> None:
        """Connected again: every batch's clock and wait start over at ``now`` (with
        ``resend_all``, a new sender process, each is missed, to go again at once), and
        the acks counted past each (``forget_acks_past``, a bounded number of times)."""
        for f in self.flights.values():
            f.restart(now, missed=resend_all)
            f.forget_acks_past()
            f.copies += 1  # redelivered by the session, or sent again at once

    # -- acks ----------------------------------------------------------------------

    def acked(self, batch_id: str, now: float) -> Acked:
        """The hub answered ``batch_id`` at ``now``. Not in flight: stale (a piece's whole
        restarts what queued behind it), or a batch given up that the hub stored after all (the
        uplink finds its rows in the buffer's rejected table by its id)."""
        flight = self.flights.pop(batch_id, None)
        if flight is None:
            place = self.split_places.pop(batch_id, None)
            if place is not None:  # the halves queued behind the whole's latest copy
                self._restart_behind(place, now)
            return Acked(None)
        if flight.split_from:  # split wholes no piece of which is in flight are done
            live = {w for f in self.flights.values() for w in f.split_from}
            for whole in [w for w in self.split_places if w not in live]:
                del self.split_places[whole]
        self.window.acked()
        late = flight.misses > 0
        # An ack in time shows the link and the hub work: a batch that keeps missing while
        # others are acked so is one the hub never acks, and may be written off.
        self.may_write_off = self.may_write_off or not late
        self.acks_late = late
        if not flight.alerts_lane:
            self.readings_in_time = not late
        if not late:  # so the batches waiting out a backoff go again as the window lets them
            self.failing_since = None
            for f in self.flights.values():
                f.hold_until, f.backoff = 0.0, None
        self._restart_behind(flight.place, now)
        given_up = [] if late else self._give_up_never_acked(flight.place, flight.alerts_lane)
        return Acked(flight, late, given_up)

    def _give_up_never_acked(self, place: int,
                             alerts_lane: bool) -> list[tuple[str, InFlightBatch]]:
        """A batch published at ``place`` in the hub's alerts' lane or not (``alerts_lane``)
        was acked in time: each written-off batch of the same lane whose latest copy went
        before it counts one more ack past it, and at ``REJECT_AFTER_ACKS`` is given up (the
        uplink moves it to the buffer's rejected table, as a batch the hub refused). Kept,
        they would fill the hard cap one by one over a gateway's life and stop it. Alerts'
        batches too, by acks of alerts: held, they would stop the alerts after them as well.
        The other lane's acks say nothing of it (the hub acks readings in time while its
        database, which alerts wait for, is down), so an alerts' batch no alert is acked past
        is never given up. This rule takes the hub to answer a lane in the order the link
        carried it; docs/uplink.md says where it does not, and a late ack brings a batch
        given up back (``acked``)."""
        given_up = []
        for batch_id, f in list(self.flights.items()):
            if not f.written_off or f.place > place or f.alerts_lane != alerts_lane:
                continue
            f.acked_past += 1
            if f.acked_past < REJECT_AFTER_ACKS:
                continue
            del self.flights[batch_id]
            given_up.append((batch_id, f))
        return given_up

    def _restart_behind(self, place: int, now: float) -> None:
        """The copy at ``place`` crossed: what was published after it queued behind it on
        the link, and crosses from now."""
        for f in self.flights.values():
            if f.place > place:
                f.restart(now)
