"""The MQTT uplink's own window and ack-clock logic (gateway/uplink/mqtt_uplink.py), through its
real methods (_settle, _resend_overdue, _send_due, _deadline, _wanted) over a real buffer, on
the rig of tests/unit/gateway/mqtt_uplink_rig.py (a fake link and a fake clock: its docstring
says why); the real parts run in tests/integration/uplink/test_uplink_batch_size.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.gateway.uplink import mqtt_uplink, worker
from tests.unit.gateway.mqtt_uplink_rig import BACKOFF_MIN, TIMEOUT, Clock, Rig


def test_a_batch_the_hub_never_acks_does_not_block_new_batches(rig: Rig) -> None:
    rig.add(readings=5)
    [poison] = rig.run_pass()
    rig.at(TIMEOUT)
    assert rig.run_pass() == [poison]  # one miss: window 2
    rig.at(2 * TIMEOUT)
    assert rig.run_pass() == []  # two: window 1, the poison batch written off, and held
    assert rig.policy.window.size == 1
    rig.at(2 * TIMEOUT + BACKOFF_MIN)
    assert rig.run_pass() == [poison]  # after the backoff's first wait
    rig.at(2 * TIMEOUT + 2)
    rig.add(readings=5)
    assert rig.wanted()
    [fresh] = rig.run_pass()  # before the fix: the poison batch held the only place for good
    assert fresh != poison
    rig.ack(fresh)  # the hub answers: the poison batch's backoff starts over
    rig.at(3 * TIMEOUT + BACKOFF_MIN)
    assert rig.run_pass() == []  # its third miss: held the backoff's first wait
    rig.at(3 * TIMEOUT + 2 * BACKOFF_MIN)
    assert rig.run_pass() == [poison]  # still sent again


def test_a_stalled_link_never_gets_its_whole_window_again_at_once(rig: Rig) -> None:
    """No ack for eight timeouts: batches written off (missed twice) must not all go again
    each timeout, as before the window; what goes per timeout stays within the window."""
    rig.add(readings=40)
    seen = set(rig.run_pass())
    resends = []
    for k in range(1, 9):
        rig.at(k * TIMEOUT)
        # probes keep their own places beyond the window (test_mqtt_uplink_poison.py)
        probes = {b for b, f in rig.policy.flights.items() if f.probe}
        sent = rig.run_pass()
        resends.append(sum(b in seen and b not in probes for b in sent))
        assert resends[-1] <= rig.policy.window.size, resends
        assert len(sent) - resends[-1] - len(probes & set(sent)) <= 1, sent  # one new at most
        seen.update(sent)
    assert rig.policy.window.size == 1 and sum(resends) <= 2 + 7, resends


def test_a_stalled_link_writes_off_one_batch_and_holds_probes_to_the_hard_cap(rig: Rig) -> None:
    """No ack for forty timeouts with a backlog and alerts coming: with no ack in time to
    show the hub acks others, one batch is written off and the rest keep their places; on
    top of the stall go probes (each could earn that ack), a new one once the last missed
    twice (it may be one the hub never acks), up to the hard cap of twice max_inflight, not
    past it; nothing goes to the rejected table (no ack came)."""
    rig.add(readings=400)
    first = rig.run_pass()
    for k in range(1, 41):
        rig.at(k * TIMEOUT)
        rig.add(alerts=1)
        rig.run_pass()
        assert len(rig.policy.flights) <= 2 * 4, k
    flights = list(rig.policy.flights.values())
    held, probes = flights[:4], flights[4:]
    assert list(rig.policy.flights)[:4] == first and probes and all(f.probe for f in probes)
    assert [f.written_off for f in held] == [True, False, False, False]
    assert rig.buffer.stats().rejected == 0


def test_the_alerts_batch_goes_beyond_a_full_window(rig: Rig) -> None:
    rig.add(readings=5)
    [first] = rig.run_pass()
    rig.at(TIMEOUT)
    rig.run_pass()
    rig.at(2 * TIMEOUT)
    rig.run_pass()
    rig.ack(first)  # window 1 -> 2
    rig.add(readings=10)
    rig.at(2 * TIMEOUT + 1)
    sent = rig.run_pass()
    assert len(sent) == rig.policy.window.size  # the window is full of readings
    rig.add(alerts=1)
    assert rig.wanted()
    assert len(rig.run_pass()) == 1  # the alert's batch, one place beyond the window
    rig.add(alerts=1)
    assert rig.run_pass() == []  # one place beyond, not more


def test_batches_lost_together_go_again_without_a_timeout_each(rig: Rig) -> None:
    """A broker that lost the session: four batches without acks go overdue together (window
    4 -> 2); when the oldest's resend is acked, the next lost one goes at once: it was
    published before that resend, so it did not queue behind it."""
    ids: list[str] = []
    for i in range(4):
        rig.at(i * 0.1)
        rig.add(readings=5)
        ids += rig.run_pass()
    assert len(ids) == 4
    rig.at(TIMEOUT + 0.3)
    assert rig.run_pass() == ids[:2]
    rig.at(TIMEOUT + 2)
    rig.ack(ids[0])
    assert rig.run_pass() == [ids[2]]  # before the fix: a full timeout later (t=62)
    rig.at(TIMEOUT + 3)
    rig.ack(ids[1])
    assert ids[3] in rig.run_pass()


def test_halves_of_a_split_batch_restart_their_clock_on_the_wholes_late_ack(
    tmp_path: Path, clock: Clock,
) -> None:
    rig = Rig(tmp_path / "s.sqlite3", clock, floor=5, ceiling=10)
    rig.add(readings=40)
    first = rig.run_pass()
    assert len(first) == 4
    rig.at(1)
    for batch_id in first:  # full batches acked fast with more waiting: the count grows
        rig.ack(batch_id)
    assert rig.uplink._sizer.count == 10
    whole = rig.run_pass()[0]
    assert len(rig.policy.flights[whole].batch) == 10
    for batch_id in list(rig.policy.flights)[1:]:
        rig.ack(batch_id)
    rig.at(1 + TIMEOUT)  # the whole misses its ack: the count halves and it goes in halves
    halves = [b for b in rig.run_pass() if len(rig.policy.flights[b].batch) == 5]
    assert whole not in rig.policy.flights and len(halves) == 2
    rig.at(1 + TIMEOUT + 20)
    rig.ack(whole)  # late: the whole crossed at last; the halves queued behind it
    assert rig.uplink.counters().stale_acks == 1
    rig.at(1 + 2 * TIMEOUT + 1)
    assert not set(halves) & set(rig.run_pass())  # before the fix: both sent again here
    assert rig.deadline() == pytest.approx(19)
    for batch_id in halves:
        rig.ack(batch_id)
    assert rig.policy.split_places == {}
    rig.buffer.close()


@settings(max_examples=40, deadline=None)
@given(script=st.lists(st.tuples(
    st.sampled_from(["readings", "alert", "ack_oldest", "ack_newest", "wait", "timeout"]),
    st.integers(1, 12)), max_size=40))
def test_after_each_pass_nothing_is_due_at_once(script: list[tuple[str, int]]) -> None:
    """The thread never spins: after a pass (acks, resends, new batches), the deadline is
    in the future, so a deadline of 0 is always followed by a publish or an ack."""
    c = Clock()
    fake_time = SimpleNamespace(monotonic=c.monotonic)
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as tmp:
        mp.setattr(mqtt_uplink, "time", fake_time)
        mp.setattr(worker, "time", fake_time)
        rig = Rig(Path(tmp) / "h.sqlite3", c)
        try:
            for step, n in script:
                inflight = list(rig.policy.flights)
                if step == "readings":
                    rig.add(readings=n)
                elif step == "alert":
                    rig.add(alerts=1)
                elif step == "ack_oldest" and inflight:
                    rig.ack(inflight[0])
                elif step == "ack_newest" and inflight:
                    rig.ack(inflight[-1])
                elif step == "wait":
                    c.now += n
                elif step == "timeout":
                    c.now += TIMEOUT
                rig.run_pass()
                assert rig.deadline() > 0
                assert rig.policy.window.holds(0)
        finally:
            rig.buffer.close()


@pytest.mark.parametrize("never_acked", [2, 3])
def test_batches_the_hub_never_acks_do_not_stop_the_uplink(rig: Rig, never_acked: int) -> None:
    """The hub never acks the first two (three) batches and acks every other at once; 5
    readings come every 10 s. The first is written off at its second miss; the second,
    refused write-off until an ack in time, held the window's only place for ever (the third
    waiting behind it) and no new batch could go to earn that ack (before: after an hour 5
    batches sent, the depth ~1,800 and growing). A probe beyond the window earns it, one
    write-off after another: the backlog drains."""
    rig.add(readings=5 * never_acked)
    poison = rig.run_pass()
    assert len(poison) == never_acked
    next_add = 10.0
    while rig.clock.now - 1000.0 < 3600:
        rig.clock.now = min(rig.clock.now + rig.deadline(), 1000.0 + next_add)
        if rig.clock.now - 1000.0 >= next_add:
            rig.add(readings=5)
            next_add += 10
        for batch_id in rig.run_pass():
            if batch_id not in poison:
                rig.ack(batch_id)
    assert rig.buffer.stats().depth <= 5 * never_acked + 5, rig.buffer.stats()
    assert rig.uplink.counters().batches_acked >= 350
    assert len(rig.policy.flights) <= 2 * 4, rig.uplink.counters()


def test_one_batch_of_alerts_goes_beyond_the_entries_bound_not_more(
    tmp_path: Path, clock: Clock,
) -> None:
    """max_inflight_entries 10 held by two batches of readings: the first batch of alerts
    goes beyond it, later ones wait for acks (before: each went while the window had a
    place, 25 entries held here)."""
    rig = Rig(tmp_path / "e.sqlite3", clock, max_entries=10)
    rig.add(readings=10)
    assert len(rig.run_pass()) == 2
    rig.add(alerts=5)
    [alerts] = rig.run_pass()
    rig.add(alerts=5)
    assert rig.run_pass() == []
    rig.add(alerts=5)
    assert rig.run_pass() == []
    assert sum(len(f.batch) for f in rig.policy.flights.values()) == 15
    rig.ack(alerts)
    assert len(rig.run_pass()) == 1  # the next batch of alerts, beyond again
    rig.buffer.close()


def test_a_grown_batch_leaves_the_next_only_the_room_left(tmp_path: Path, clock: Clock) -> None:
    """The count grown to 10 under max_inflight_entries 25: two batches of 10 go, then one
    of the 5 entries left (before the cap in _take: a third of 10, 30 held)."""
    rig = Rig(tmp_path / "g.sqlite3", clock, floor=5, ceiling=20, max_entries=25)
    rig.grown_once()
    assert rig.uplink._sizer.count == 10
    sent = rig.run_pass()
    assert [len(rig.policy.flights[b].batch) for b in sent] == [10, 10, 5]
    rig.buffer.close()


def test_the_count_never_grows_past_the_entries_bound(tmp_path: Path, clock: Clock) -> None:
    """batch_ceiling_count 20 over max_inflight_entries 10: the count stops at 10, the most a
    batch can hold (before: 20, a size no batch reached, that a miss halved to no effect)."""
    rig = Rig(tmp_path / "c.sqlite3", clock, floor=5, ceiling=20, max_entries=10)
    rig.add(readings=200)
    for k in range(1, 10):
        sent = rig.run_pass()
        rig.at(k)
        for batch_id in sent:
            rig.ack(batch_id)
    assert rig.uplink.counters().batch_count == 10
    rig.buffer.close()
