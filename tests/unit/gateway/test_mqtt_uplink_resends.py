"""How the MQTT uplink resends (gateway/uplink/mqtt_uplink.py): the growing wait of a batch
that keeps missing its ack, and what a late ack does (docs/uplink.md, "Resends").

On tests/unit/gateway/mqtt_uplink_rig.py (the real methods over a real buffer, a fake link
and a fake clock: these cases need acks that come late by exactly so much and a clock that
jumps a 30 s timeout at once); through the real parts: tests/integration/uplink/
test_uplink_mqtt.py.
"""

from __future__ import annotations

import heapq
import random
from pathlib import Path

from tests.unit.gateway.mqtt_uplink_rig import BACKOFF_MIN, TIMEOUT, Clock, Rig

BACKOFF_MAX = 60.0  # uplink.backoff_max_s's default


def copies_until(rig: Rig, batch_id: str, end: float) -> list[float]:
    """Runs the thread's passes at its own deadlines (no acks) until ``end`` s: when
    ``batch_id`` was published again."""
    times = []
    while True:
        rig.clock.now += rig.deadline()
        if rig.clock.now - 1000.0 > end:
            return times
        if batch_id in rig.run_pass():
            times.append(rig.clock.now - 1000.0)


def test_a_batch_never_acked_goes_again_after_a_growing_wait(rig: Rig) -> None:
    """The first resend at the timeout, as before; from the second miss on a growing wait
    more, never beyond backoff_max_s (before: once a timeout, for ever)."""
    rig.policy.rng = random.Random(5)
    rig.add(readings=5)
    [batch] = rig.run_pass()
    times = copies_until(rig, batch, 40 * TIMEOUT)
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert gaps[0] == TIMEOUT and gaps[1] == TIMEOUT + BACKOFF_MIN, gaps
    assert all(TIMEOUT + BACKOFF_MIN <= g <= TIMEOUT + BACKOFF_MAX for g in gaps[1:]), gaps
    assert sum(gaps[-5:]) / 5 > TIMEOUT + 10, gaps  # the wait grew (full jitter, capped)
    assert len(times) < 40 - 5


def test_a_batch_of_alerts_keeps_the_timeouts_pace_beside_a_held_one(rig: Rig) -> None:
    """Alerts lead: their batch is never held back, and goes again from one place beyond a
    window taken by a held batch of readings."""
    rig.add(alerts=1)
    [alerts] = rig.run_pass()
    rig.at(0.5)
    rig.add(readings=5)
    [readings] = rig.run_pass()
    sent: dict[str, list[float]] = {readings: [], alerts: []}
    while rig.clock.now - 1000.0 < 10 * TIMEOUT:
        rig.clock.now += rig.deadline()
        for batch_id in rig.run_pass():
            sent[batch_id].append(round(rig.clock.now - 1000.0, 1))
    assert rig.policy.window.size == 1 and not rig.policy.flights[readings].written_off
    assert sent[alerts] == [k * TIMEOUT for k in range(1, 11)], sent
    gaps = [b - a for a, b in zip(sent[readings], sent[readings][1:], strict=False)]
    assert min(gaps) > TIMEOUT and len(sent[readings]) < len(sent[alerts]), sent


def test_an_ack_in_time_starts_the_waits_over(rig: Rig) -> None:
    """The hub answers a batch in time: a held batch goes again as the window lets it, its
    wait begun anew."""
    rig.add(readings=5)
    [stuck] = rig.run_pass()
    times = copies_until(rig, stuck, 8 * TIMEOUT)
    flight = rig.policy.flights[stuck]
    while not (flight.missed and flight.hold_until > rig.clock.now + 1):
        rig.clock.now += rig.deadline()
        rig.run_pass()
    rig.add(readings=5)
    [fresh] = rig.run_pass()
    rig.clock.now += 0.5
    rig.ack(fresh)  # in time
    assert flight.hold_until == 0.0 and flight.backoff is None
    assert rig.run_pass() == [stuck]  # before its wait was out
    assert len(times) >= 4


def test_a_late_ack_does_not_grow_the_count(tmp_path: Path, clock: Clock) -> None:
    """A batch acked after its timeout: its miss halved the count, and its ack, just after
    its resend, must not look like a fast batch and double it back (before: it did)."""
    rig = Rig(tmp_path / "l.sqlite3", clock, floor=5, ceiling=20)
    rig.grown_once()
    assert rig.uplink._sizer.count == 10
    slow, *rest = rig.run_pass()
    rig.at(2)
    for batch_id in rest:
        rig.ack(batch_id)
    assert rig.uplink._sizer.count == 20
    rig.at(1 + TIMEOUT)
    assert slow in rig.run_pass()  # missed: the count halves and it goes again, whole
    assert rig.uplink._sizer.count == 10
    rig.at(1 + TIMEOUT + 0.5)
    rig.ack(slow)  # late: the first copy crossed at last
    assert rig.uplink._sizer.count == 10
    rig.buffer.close()


def slow_link(rig: Rig, crossing_s: float, end_s: float) -> tuple[int, int]:
    """Every copy takes ``crossing_s`` on the link, one after another, and the hub acks each
    copy that crosses; the thread runs its passes at its deadlines. Returns the copies
    published and the most batches in flight at once."""
    crossings: list[tuple[float, int, str]] = []
    free_at = 0.0
    copies = most = 0
    while rig.policy.flights or rig.buffer.stats().depth:
        assert rig.clock.now - 1000.0 < end_s, "not drained"
        for batch_id in rig.run_pass():
            free_at = max(rig.clock.now, free_at) + crossing_s
            heapq.heappush(crossings, (free_at, copies, batch_id))
            copies += 1
        most = max(most, len(rig.policy.flights))
        rig.clock.now = min(rig.clock.now + rig.deadline(),
                            crossings[0][0] if crossings else float("inf"))
        while crossings and crossings[0][0] <= rig.clock.now:
            rig.ack(heapq.heappop(crossings)[2])
    return copies, most


def test_a_link_too_slow_for_the_timeout_gets_no_batch_on_top(rig: Rig) -> None:
    """Each copy takes 1.2 timeouts to cross: every ack is late. Late acks show a slow link,
    not a batch the hub never acks: one batch at most is written off, so nothing new goes on
    top of the four in flight (before: batch after batch written off, each freeing a place
    for a new one: six in flight here, up to the hard cap of eight on a longer backlog).
    Copies: 70 for the 12 batches (57 before, when written-off batches went again only from
    a spare place); a link this much slower than the timeout wants a longer ack_timeout_s."""
    rig.add(readings=5 * 12)
    copies, most = slow_link(rig, 1.2 * TIMEOUT, 200 * TIMEOUT)
    assert most <= 4, most
    assert rig.uplink.counters().entries_acked == 60


def held(rig: Rig, beyond_s: float) -> str:
    """A batch never acked, run at the thread's deadlines until it waits out a backoff that
    ends more than ``beyond_s`` after now."""
    rig.policy.rng = random.Random(3)
    rig.add(readings=5)
    [stuck] = rig.run_pass()
    flight = rig.policy.flights[stuck]
    while not (flight.missed and flight.hold_until > rig.clock.now + beyond_s):
        rig.clock.now += rig.deadline()
        rig.run_pass()
        assert rig.clock.now - 1000.0 < 100 * TIMEOUT
    return stuck


def test_after_a_new_sender_process_a_held_batch_goes_again_at_once(rig: Rig) -> None:
    """What the old sender had queued is lost: it all goes again at once, not when a backoff
    begun before the restart ends (before: it waited that out)."""
    stuck = held(rig, 1)
    rig.relink(new_sender=True)
    assert rig.run_pass() == [stuck]


def test_after_a_reconnect_the_next_miss_comes_a_timeout_later(rig: Rig) -> None:
    """The session redelivers the batch: its clock starts over, and a miss is noticed a
    timeout from the reconnect, not when the backoff begun before it ends (before: up to
    backoff_max_s - ack_timeout_s late)."""
    stuck = held(rig, TIMEOUT + 1)
    rig.relink()
    assert rig.deadline() == TIMEOUT
    rig.clock.now += TIMEOUT
    rig.run_pass()
    assert rig.policy.flights[stuck].missed


def test_an_ack_of_a_batch_sent_again_after_a_restart_times_no_round_trip(
    tmp_path: Path, clock: Clock,
) -> None:
    """Karn's rule: a new sender process resends what the old one had; an ack just after
    may answer the old copy, and timed from the resend it looked near zero and doubled the
    count the restart had just halved (before: 5 -> 10 again)."""
    rig = Rig(tmp_path / "k.sqlite3", clock, floor=5, ceiling=20)
    rig.add(readings=30)
    first, *rest = rig.run_pass()
    rig.add(readings=100)  # more waits: a fast full batch would grow the count
    rig.at(1)
    rig.ack(first)
    assert rig.uplink._sizer.count == 10
    rig.at(2)
    rig.relink(new_sender=True)
    assert rig.uplink._sizer.count == 5
    assert set(rest) <= set(rig.run_pass())  # sent again, whole (5 entries each)
    rig.at(2.01)
    rig.ack(rest[0])
    assert rig.uplink._sizer.count == 5
    rig.buffer.close()
