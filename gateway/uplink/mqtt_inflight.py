"""A batch the MQTT uplink (mqtt_uplink.py) has published and not yet settled: its copies,
misses, write-off and waits, and how many acks give a written-off one up. The rules over them:
mqtt_resend_policy.py."""

from __future__ import annotations

from dataclasses import dataclass

from siaga.gateway.buffer_rows import Batch
from siaga.gateway.uplink.backoff import Backoff

__all__ = ["ACKS_PAST_RESTARTS", "REJECT_AFTER_ACKS", "InFlightBatch"]

# A written-off batch is given up (the buffer's rejected table) once this many batches of its
# lane (``InFlightBatch.alerts_lane``) published after its latest copy were acked in time: the
# link carried them in order and the hub answered each, so the hub is skipping this one (its
# handler raises on it), not slow.
# Counted in acks, not copies or time: a stalled link or hub brings none, so nothing is given
# up while no ack comes; one or two could be acks that overtook a slow ingest of it, three
# in a row past it leave little doubt, and each poison batch then leaves after ~3 batches.
REJECT_AFTER_ACKS = 3

# How often in its life a batch's acks-past count may start over for a failure of the link or
# a reconnect (``InFlightBatch.forget_acks_past``). Enough for the outages that matter (a
# stall after it was acked past: one start-over, a copy in it and after it), not more: a link
# that comes back more often than REJECT_AFTER_ACKS batches go (a flaky cellular one) would
# otherwise start the count over for ever, the batch never given up (a copy every few
# minutes for its life, a few such batches holding the hard cap). Only a start-over that
# cleared something counts: a stall's failures after the first find nothing to clear.
ACKS_PAST_RESTARTS = 2


@dataclass(slots=True)
class InFlightBatch:
    batch: Batch
    body: bytes
    sent_at: float  # monotonic: when its ack clock started
    # Its latest copy's place on the link: publishes counted, not the clock (copies published
    # in one pass share a clock reading; their order on the link is what matters).
    place: int
    missed: bool = False  # overdue and counted as a miss; waits for the window to resend it
    misses: int = 0  # times it went overdue
    # Missed twice or more with the hub acking others in time (``may_write_off``): likely one
    # the hub never acks (its handler raised), so it takes no place in the window and its
    # misses say nothing about the link.
    written_off: bool = False
    split_from: tuple[str, ...] = ()  # the batches it is a piece of (their ids)
    hold_until: float = 0.0  # monotonic: missed again, it is not published before this
    backoff: Backoff | None = None  # the growing wait of its resends, from its second miss
    # Published more than once (a resend, a new sender process, a session's redelivery): its
    # ack may answer any copy, so it times no round trip (Karn's rule).
    copies: int = 1
    probe: bool = False  # sent beyond the window to earn an ack in time (``probe_due``)
    # Written off, the acks in time since then of batches of its lane published after its
    # latest copy: at ``REJECT_AFTER_ACKS`` it is given up to the rejected table
    # (``_give_up_never_acked``).
    acked_past: int = 0
    # It went again after acks past an earlier copy (the hub answering others, maybe never
    # having had that copy): once acked past again, it waits for the count, not again. Both
    # start over when the link fails or comes back (``forget_acks_past``).
    resent_past_acks: bool = False
    acks_past_restarts: int = 0  # how often the two above started over (ACKS_PAST_RESTARTS)
    # A stall's start-over, outside ACKS_PAST_RESTARTS, was used: once in its life, so a link
    # whose dropouts pass for stalls cannot hold a batch the hub never acks for ever.
    stall_restarted: bool = False
    # Monotonic: when its first copy went (a piece's: its whole's), for oldest_unacked_s and
    # the log of a batch held long (0: sent_at at construction).
    first_sent_at: float = 0.0
    held_logged_at: float = -float("inf")  # monotonic: its latest "held for long" error

    def __post_init__(self) -> None:
        self.first_sent_at = self.first_sent_at or self.sent_at

    @property
    def alerts_lane(self) -> bool:
        """Whether the hub stores it in its alerts' lane: a batch with any alert writes the
        hub database and waits there (api/ingest/mqtt_subscriber.py, ``_to_lane``), answered
        apart from the readings-only batches, which the hub stores and acks on their own
        path. While the database is down the hub acks readings in time and alerts not at
        all (it expects them again), and the other way round while the readings' store is."""
        return bool(self.batch.alerts)

    def forget_acks_past(self, *, stall: bool = False) -> None:
        """The link failed or came back: the acks counted past its latest copy, and the copy
        they earned, say nothing of what the hub has now (a copy in the outage may have been
        lost too), so it goes again once more before it can be given up. At most
        ``ACKS_PAST_RESTARTS`` times in its life (counted when there was something to clear),
        so a link that keeps coming back cannot hold a batch the hub never acks for ever. A
        ``stall`` (``ResendPolicy.overdue`` says when) starts it over once in its life outside
        that budget: the budget is for flaps with acks between them, and a batch whose flaps
        spent it would otherwise get no copy in a stall and be given up as the hub came back.
        Once, not every stall: dropouts that pass for stalls would hold it for ever again."""
        if not (self.acked_past or self.resent_past_acks):
            return
        if stall and not self.stall_restarted:
            self.stall_restarted = True
        elif self.acks_past_restarts < ACKS_PAST_RESTARTS:
            self.acks_past_restarts += 1
        else:
            return
        self.acked_past = 0
        self.resent_past_acks = False

    def restart(self, now: float, *, missed: bool = False) -> None:
        """Its ack clock starts over at ``now``, and so does its wait: a later miss is
        noticed a timeout from now, not when an old backoff ends."""
        self.sent_at = max(self.sent_at, now)
        self.missed = missed
        self.hold_until, self.backoff = 0.0, None
