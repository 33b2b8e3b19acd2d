"""Batches the hub never acks (its handler raises on them: "poison") against the MQTT uplink
(gateway/uplink/mqtt_uplink.py): the probe beyond the window, and written-off batches given up
to the rejected table. Hours of a gateway's life on the rig of
tests/unit/gateway/mqtt_uplink_rig.py (a fake link and a fake clock: its docstring says why),
5 readings every 10 s; each test names the way the uplink used to stop for good.
"""

from __future__ import annotations

import logging
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.gateway.mqtt_uplink_rig import TIMEOUT, Clock, Rig

HELD = 15  # three batches of 5: what a draining uplink holds at most between passes


def drive(rig: Rig, *, hours: float, drop: Callable[[Rig, str], bool],
          relink_at: Callable[[Rig], bool] | None = None, alerts: int = 0) -> None:
    """The thread's passes at its own deadlines for ``hours``: every copy published is acked
    at once unless ``drop`` says its ack is lost; ``relink_at`` brings a new sender process
    once; ``alerts`` come with each 5 readings."""
    next_add, relinked = 10.0, False
    while rig.clock.now - 1000.0 < 3600 * hours:
        rig.clock.now = min(rig.clock.now + rig.deadline(), 1000.0 + next_add)
        if rig.clock.now - 1000.0 >= next_add:
            rig.add(readings=5, alerts=alerts)
            next_add += 10
        if relink_at is not None and not relinked and relink_at(rig):
            relinked = True
            rig.relink(new_sender=True)
        for b in rig.run_pass():
            if not drop(rig, b):
                rig.ack(b)


def probing(rig: Rig) -> bool:
    return any(f.probe for f in rig.policy.flights.values())


def two_poison_and_the_probes_first_copy(rig: Rig) -> Callable[[Rig, str], bool]:
    """The first pass's two batches never acked; the first copy of each probe's ack lost."""
    rig.add(readings=10)
    poison = set(rig.run_pass())
    assert len(poison) == 2
    lost: set[str] = set()

    def drop(r: Rig, b: str) -> bool:
        f = r.policy.flights.get(b)
        if b in poison:
            return True
        if f is not None and f.probe and b not in lost:
            lost.add(b)
            return True
        return False
    return drop


@pytest.mark.parametrize("new_sender", [False, True])
def test_a_probe_whose_ack_was_lost_goes_again(rig: Rig, new_sender: bool) -> None:
    """Before: the probe sat beyond the window of 1 held by the poison batch, never went again
    once missed, and blocked every new probe (an hour: depth 1,800, 2 acked); the same after a
    new sender process while the probe was in flight."""
    drop = two_poison_and_the_probes_first_copy(rig)
    drive(rig, hours=1, drop=drop, relink_at=probing if new_sender else None)
    assert rig.buffer.stats().depth <= HELD
    assert rig.uplink.counters().batches_acked >= 350


def test_a_probe_the_hub_never_acks_lets_a_new_probe_go(rig: Rig) -> None:
    """The probe a poison batch too: a new probe goes once it missed twice."""
    rig.add(readings=10)
    poison = set(rig.run_pass())

    def drop(r: Rig, b: str) -> bool:
        f = r.policy.flights.get(b)
        if f is not None and f.probe and f.copies == 1 and len(poison) < 3:
            poison.add(b)
        return b in poison
    drive(rig, hours=1, drop=drop)
    assert len(poison) == 3
    assert rig.buffer.stats().depth <= HELD


def one_skipped_every_five_minutes(n: int) -> tuple[list[str], Callable[[Rig, str], bool]]:
    """The batches the hub skips (one new batch in five minutes, until ``n``, in that order)
    and the ``drop`` that loses their acks."""
    poison: list[str] = []

    def drop(r: Rig, b: str) -> bool:
        f = r.policy.flights.get(b)
        if (f is not None and not f.probe and f.copies == 1 and f.misses == 0
                and len(poison) < n and r.clock.now - 1000.0 >= 300 * len(poison)):
            poison.append(b)
        return b in poison
    return poison, drop


@pytest.mark.parametrize("n", [8, 12])
def test_poison_batches_over_a_gateways_life_go_to_the_rejected_table(rig: Rig, n: int) -> None:
    """Before: written-off batches never left, so 8 of them filled the hard cap of twice
    max_inflight and stopped the uplink (3 h: depth 5,370)."""
    poison, drop = one_skipped_every_five_minutes(n)
    drive(rig, hours=3, drop=drop)
    assert len(poison) == n
    assert rig.buffer.stats().depth <= HELD
    assert rig.buffer.stats().rejected == 5 * n  # kept for an operator, not lost
    assert rig.uplink.counters().batches_rejected == n
    assert not set(rig.policy.flights) & set(poison)


def test_an_alerts_batch_never_acked_is_rejected_at_error_level(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    """Given up by acks of batches with alerts past it (an alert every 10 s here): the
    readings' acks do not count
    (test_an_alert_the_hub_would_store_is_not_given_up_while_readings_are_acked)."""
    rig.add(alerts=2)
    [poison] = rig.run_pass()
    drive(rig, hours=0.5, drop=lambda r, b: b == poison, alerts=1)
    assert poison not in rig.policy.flights
    assert rig.buffer.stats().rejected == 2
    assert [r.levelno for r in caplog.records if "never acked" in r.getMessage()] == [
        logging.ERROR]



def test_a_stalled_hub_gets_nothing_rejected(rig: Rig) -> None:
    """No ack at all for an hour, then the hub answers every copy again: no ack in time came
    in the stall to show the hub acks others, so nothing went to the rejected table; what the
    uplink held stayed within the hard cap, the rest waited in the buffer, and once the hub
    is back all of it is acked. Before, the test ended in the stall, where no ack comes and
    the reject rule cannot fire: its checks could not fail. Now a rule that counted the late
    acks of the stall's batches too fails it (the batch written off in the stall given up as
    they come back, 5 rows rejected). A lower REJECT_AFTER_ACKS does not: acks in order, the
    written-off batch's next copy goes, and is acked, before any batch acked in time."""
    most = 0

    def stalled(r: Rig, b: str) -> bool:
        nonlocal most
        most = max(most, len(r.policy.flights))
        return r.clock.now - 1000.0 < 3600
    drive(rig, hours=2, drop=stalled)
    assert most <= 2 * rig.uplink.settings.max_inflight
    assert rig.buffer.stats().rejected == 0
    assert rig.uplink.counters().batches_rejected == 0
    depth = rig.buffer.stats().depth
    assert depth <= HELD  # the hour's backlog drained
    assert rig.uplink.counters().entries_acked == rig.seq - depth  # every entry acked



@pytest.mark.parametrize("interval", [60.0, 300.0])
def test_a_quiet_gateway_gives_a_batch_the_hub_never_acks_up(rig: Rig, interval: float) -> None:
    """A batch every minute (five): the poison batch goes again once after acks in time past
    it, then waits for the count, and is given up at the fourth batch after it, 4 copies at a
    minute (15-17 at five: until the first ack past it, it goes again after growing waits).
    Before: each ack in time sent it again, each copy started the count over, and fewer than
    three batches came in a copy's ~31 s: never given up, a copy every ~31 s (692 in 6 h at
    a minute)."""
    rig.policy.rng = random.Random(1)
    rig.add(readings=5)
    [poison] = rig.run_pass()
    copies, next_add = 1, interval
    while poison in rig.policy.flights:
        assert rig.clock.now - 1000.0 <= 4 * interval, copies
        rig.clock.now = min(rig.clock.now + rig.deadline(), 1000.0 + next_add)
        if rig.clock.now - 1000.0 >= next_add:
            rig.add(readings=5)
            next_add += interval
        for b in rig.run_pass():
            if b == poison:
                copies += 1
            else:
                rig.ack(b)
    assert rig.buffer.stats().rejected == 5 and copies <= 20, copies


def test_a_new_copy_starts_the_acks_counted_past_it_over(tmp_path: Path, clock: Clock) -> None:
    """What gives a batch up is three acks past its LATEST copy (before: acks past an older
    copy carried over, so a batch could go to the rejected table after fewer than three acks
    past the copy the hub would still ack)."""
    rig = Rig(tmp_path / "l.sqlite3", clock, max_inflight=8)
    rig.add(readings=5)
    [a] = rig.run_pass()
    flight = rig.policy.flights[a]
    flight.acked_past = 2  # acks of later batches while this copy went unanswered
    rig.at(TIMEOUT)
    assert a in rig.run_pass()  # overdue: a new copy
    assert flight.copies == 2 and flight.acked_past == 0


def rejected_rows(rig: Rig) -> int:
    """Rows in the buffer's rejected table, counted in SQLite itself."""
    with sqlite3.connect(rig.buffer.settings.path) as db:
        count: int = db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
    return count


def test_a_batch_given_up_and_then_acked_late_leaves_the_rejected_table(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    """Hubs sharing the subscription ($share, docs/scale.md): a slow one stores a batch after
    the others acked three published after it, so it was given up; its late ack (before:
    counted stale, the rows left in the rejected table for good) takes its rows back out."""
    rig.add(readings=5)
    [slow] = rig.run_pass()
    drive(rig, hours=0.5, drop=lambda r, b: b == slow)
    assert rig.uplink.counters().batches_rejected == 1 and rejected_rows(rig) == 5
    rig.ack(slow)
    assert rejected_rows(rig) == 0 and rig.buffer.stats().rejected == 0
    counters = rig.uplink.counters()
    assert counters.rejected_acked_late == 1 and counters.stale_acks == 0
    assert [r.levelno for r in caplog.records if "acked late" in r.getMessage()] == [
        logging.WARNING]


def test_an_ack_of_any_batch_given_up_takes_its_rows_back(rig: Rig) -> None:
    """The rejected rows keep their batch id, so an ack of any batch given up takes its rows
    back, the oldest of three too (the resend policy keeps no memory of given-up ids: before
    2adac0e only its last GIVEN_UP_REMEMBERED were known, an older one's ack stale and its
    rows left in the rejected table); a second ack of it is stale."""
    poison, drop = one_skipped_every_five_minutes(3)
    drive(rig, hours=0.5, drop=drop)
    assert rig.uplink.counters().batches_rejected == 3 and rejected_rows(rig) == 15
    oldest, *others = poison
    rig.ack(oldest)
    assert rejected_rows(rig) == 10 and rig.uplink.counters().stale_acks == 0
    for batch_id in others:
        rig.ack(batch_id)
    assert rejected_rows(rig) == 0 and rig.uplink.counters().rejected_acked_late == 3
    rig.ack(oldest)
    assert rig.uplink.counters().stale_acks == 1


def an_alert_behind_a_database_outage(
        rig: Rig, *, interval: float, db_back: float, end: float,
        stall: tuple[float, float] = (0.0, 0.0)) -> tuple[list[float], float | None]:
    """An alert at 0 s, then 5 readings every ``interval``. The hub acks each copy it gets at
    once, save a batch with alerts before ``db_back`` (its database down: the alerts' lane,
    api/ingest/mqtt_subscriber.py, sends no ack and expects the batch again) and anything in
    ``stall`` (the whole hub stalled). When the alert batch's copies went, when it was acked."""
    rig.policy.rng = random.Random(1)
    rig.add(alerts=1)
    [alert_batch] = rig.run_pass()
    copies, delivered, next_add = [0.0], None, interval
    while rig.clock.now - 1000.0 < end:
        rig.clock.now = min(rig.clock.now + rig.deadline(), 1000.0 + next_add)
        t = rig.clock.now - 1000.0
        if t >= next_add:
            rig.add(readings=5)
            next_add += interval
        for b in rig.run_pass():
            alerts = bool(rig.policy.flights[b].batch.alerts)
            if b == alert_batch:
                copies.append(t)
            if stall[0] <= t < stall[1] or (alerts and t < db_back):
                continue
            if b == alert_batch and delivered is None:
                delivered = t
            rig.ack(b)
    return copies, delivered


@pytest.mark.parametrize("interval", [10.0, 60.0])
def test_an_alert_the_hub_would_store_is_not_given_up_while_readings_are_acked(
        rig: Rig, interval: float) -> None:
    """The hub's database down for 15 minutes, its readings acked in time meanwhile: only
    alert acks count towards giving an alerts' batch up, so the alert goes again at the
    timeout's pace and reaches the hub once its database is back. Before, the readings' acks
    gave it up: rejected at 240 s at a batch a minute (80 s at one every 10 s)."""
    copies, delivered = an_alert_behind_a_database_outage(
        rig, interval=interval, db_back=900.0, end=1200.0)
    assert rig.buffer.stats().rejected == 0 and rig.uplink.counters().batches_rejected == 0
    assert delivered is not None and 900.0 <= delivered <= 900.0 + TIMEOUT + 1, copies


def test_a_batch_frozen_before_a_stall_goes_again_in_and_after_it(rig: Rig) -> None:
    """The hub's database down 130 s, then the whole hub stalled 30 minutes: a link failure
    starts over the acks counted past a written-off batch and its one copy for them, so it
    goes in the stall and is acked when the hub is back (before: no copy in the stall, the
    batch rejected 26 s after the hub came back)."""
    copies, delivered = an_alert_behind_a_database_outage(
        rig, interval=60.0, db_back=130.0, stall=(130.0, 1930.0), end=2400.0)
    in_stall = [t for t in copies if 130.0 <= t < 1930.0]
    assert len(in_stall) >= 30, copies  # at the timeout's pace, as an alerts' batch goes
    assert rig.buffer.stats().rejected == 0
    assert delivered is not None and 1930.0 <= delivered <= 1930.0 + TIMEOUT + 1, copies


def a_poison_batch_on_a_flapping_link(rig: Rig, *, every: float, relink_every: float,
                                      hours: float = 6.0) -> tuple[bool, int]:
    """One readings batch the hub never acks, then 5 readings every ``every`` (each acked at
    once) and the link coming back every ``relink_every`` (a flaky cellular link): whether
    the batch was given up within ``hours``, and its copies."""
    rig.policy.rng = random.Random(1)
    rig.add(readings=5)
    [poison] = rig.run_pass()
    copies, next_add, next_relink = 1, every, relink_every
    while rig.clock.now - 1000.0 < 3600 * hours and poison in rig.policy.flights:
        rig.clock.now = min(rig.clock.now + rig.deadline(), 1000.0 + next_add,
                            1000.0 + next_relink)
        t = rig.clock.now - 1000.0
        if t >= next_add:
            rig.add(readings=5)
            next_add += every
        if t >= next_relink:
            rig.relink()
            next_relink += relink_every
        for b in rig.run_pass():
            if b == poison:
                copies += 1
            else:
                rig.ack(b)
    return poison not in rig.policy.flights, copies


@pytest.mark.parametrize(("every", "relink_every"), [(300.0, 600.0), (60.0, 180.0)])
def test_a_poison_batch_is_given_up_on_a_link_that_reconnects_often(
        rig: Rig, every: float, relink_every: float) -> None:
    """A reconnect starts the acks counted past a written-off batch over (the copy in the
    outage may have been lost), but only so often in its life: on a link that comes back
    more often than three batches go, the count never reached three, and the batch was never
    given up (before: 258 copies in 6 h at a batch every 5 minutes and a reconnect every 10,
    123 at a batch a minute and a reconnect every 3; a few such batches fill the hard cap and
    the readings stop). Now given up after 35 minutes, 30 copies (a reconnect is a copy
    too), and after 9 minutes, 6 copies."""
    gone, copies = a_poison_batch_on_a_flapping_link(rig, every=every,
                                                     relink_every=relink_every)
    assert gone and rig.buffer.stats().rejected == 5, copies
    assert copies <= 40, copies


def a_poison_batch_on_a_dropping_link(rig: Rig, *, every: float, drop_every: float,
                                      drop_len: float, hours: float = 6.0) -> tuple[bool, int]:
    """One readings batch the hub never acks, then 5 readings every ``every``, each acked at
    once save while the link drops acks (the last ``drop_len`` of every ``drop_every``; no
    reconnect): whether the batch was given up within ``hours``, and its copies."""
    rig.policy.rng = random.Random(1)
    rig.add(readings=5)
    [poison] = rig.run_pass()
    copies, next_add = 1, every
    while rig.clock.now - 1000.0 < 3600 * hours and poison in rig.policy.flights:
        rig.clock.now = min(rig.clock.now + rig.deadline(), 1000.0 + next_add)
        t = rig.clock.now - 1000.0
        if t >= next_add:
            rig.add(readings=5)
            next_add += every
        down = t % drop_every >= drop_every - drop_len
        for b in rig.run_pass():
            if b == poison:
                copies += 1
            elif not down:
                rig.ack(b)
    return poison not in rig.policy.flights, copies


@pytest.mark.parametrize(("every", "drop_every"), [(60.0, 180.0), (300.0, 600.0)])
def test_a_poison_batch_is_given_up_on_a_link_that_drops_acks_often(
        rig: Rig, every: float, drop_every: float) -> None:
    """Acks lost 70 s every few minutes, no reconnect: each dropout is a failure of the link
    (a miss, its copy missing 30 s later), not a stall, so it spends the batch's start-overs
    and the batch is given up (before: a failure a timeout after the first passed for a stall
    and started the count over outside the budget every time; at a batch a minute, never
    given up, 244 copies in 6 h; now given up after 9 copies, 10 minutes)."""
    gone, copies = a_poison_batch_on_a_dropping_link(rig, every=every, drop_every=drop_every,
                                                    drop_len=70.0)
    assert gone and rig.buffer.stats().rejected == 5, copies
    assert copies <= 40, copies
