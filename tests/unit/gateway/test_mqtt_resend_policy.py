"""The MQTT uplink's resend policy (gateway/uplink/mqtt_resend_policy.py) on its own: pure, no
link, no buffer, no clock but the ``now`` each call takes. The uplink around it, hours of it,
runs on the rig of tests/unit/gateway/mqtt_uplink_rig.py (test_mqtt_uplink_*.py).
"""

from __future__ import annotations

import random

import pytest

from siaga.firmware_bridge.uplink import LossReport
from siaga.gateway.buffer_rows import Batch, Entry
from siaga.gateway.uplink.mqtt_inflight import REJECT_AFTER_ACKS, InFlightBatch
from siaga.gateway.uplink.mqtt_resend_policy import STALL_TIMEOUTS, ResendPolicy
from siaga.gateway.uplink.settings import UplinkSettings

TIMEOUT = 30.0
SETTINGS = UplinkSettings(kind="mqtt", gateway_id="gw-t", host="127.0.0.1", batch_max_count=5,
                          max_inflight=4, ack_timeout_s=TIMEOUT, max_inflight_entries=20)


class Sent:
    """Batches of 5 entries put in flight as the uplink would, each at the next place."""

    def __init__(self, policy: ResendPolicy) -> None:
        self.policy = policy
        self.places = 0

    def new(self, now: float, *, alerts: bool = False, probe: bool = False) -> str:
        self.places += 1
        first = 10 * self.places
        entries = tuple(Entry(first + i, "{}", 0, False) for i in range(5))
        batch = Batch(readings=() if alerts else entries, alerts=entries if alerts else (),
                      loss=LossReport())
        batch_id = f"b{self.places}"
        self.policy.sent(batch_id, InFlightBatch(batch, b"{}", now, self.places, probe=probe))
        return batch_id

    def written_off(self) -> str:
        """A new batch at 0 s that misses its ack twice: written off at 2 timeouts."""
        batch_id = self.new(0.0)
        self.policy.overdue(TIMEOUT)
        self.resend_due(TIMEOUT)
        self.policy.overdue(2 * TIMEOUT)
        return batch_id

    def resend_due(self, now: float) -> list[str]:
        """What goes again at ``now``, published whole."""
        due = self.policy.due_again(now)
        for _, flight in due:
            self.places += 1
            self.policy.resent(flight, self.places, now)
        return [b for b, _ in due]


def policy() -> tuple[ResendPolicy, Sent]:
    p = ResendPolicy(SETTINGS, random.Random(1))
    return p, Sent(p)


def test_new_batches_fill_the_window_then_wait() -> None:
    p, sent = policy()
    for _ in range(4):
        assert p.new_batch_room(False, 5) == "window"
        sent.new(0.0)
    assert p.new_batch_room(False, 5) is None  # 4 in flight: the window is full
    assert p.room_for_entries(False, 5) == 0  # and so is max_inflight_entries (20)
    assert p.room_for_entries(True, 7) == 7  # one batch of alerts may go beyond both
    assert p.new_batch_room(True, 5) == "window"


def test_an_alerts_batch_takes_one_place_beyond_a_full_window() -> None:
    p = ResendPolicy(UplinkSettings(kind="mqtt", gateway_id="g", host="h", batch_max_count=5,
                                    max_inflight=2, max_inflight_entries=100))
    sent = Sent(p)
    sent.new(0.0)
    sent.new(0.0)
    assert p.new_batch_room(False, 5) is None
    assert p.new_batch_room(True, 5) == "window"
    sent.new(0.0, alerts=True)
    assert p.new_batch_room(True, 5) is None  # one place beyond, not more


def test_a_first_miss_goes_again_at_the_timeout_and_is_a_failure_of_the_link() -> None:
    p, sent = policy()
    a = sent.new(0.0)
    assert p.next_resend_in(0.0) == TIMEOUT
    assert not p.overdue(TIMEOUT - 0.5) and sent.resend_due(TIMEOUT - 0.5) == []
    assert p.overdue(TIMEOUT)
    assert sent.resend_due(TIMEOUT) == [a]
    assert p.flights[a].copies == 2 and p.flights[a].misses == 1
    assert p.next_resend_in(TIMEOUT) == TIMEOUT


def test_the_second_miss_writes_off_and_waits_a_backoff() -> None:
    p, sent = policy()
    a = sent.new(0.0)
    p.overdue(TIMEOUT)
    sent.resend_due(TIMEOUT)
    assert p.overdue(2 * TIMEOUT)  # written off at this miss: still the link's failure
    f = p.flights[a]
    assert f.written_off and not p.may_write_off
    assert f.hold_until >= 2 * TIMEOUT + SETTINGS.backoff_min_s
    assert sent.resend_due(2 * TIMEOUT) == []  # its wait is not out
    assert sent.resend_due(f.hold_until) == [a]


def test_a_window_of_one_lets_only_the_oldest_go_again() -> None:
    p, sent = policy()
    ids = [sent.new(0.0) for _ in range(4)]
    p.overdue(TIMEOUT)
    for _ in range(2):
        p.window.missed()  # the uplink halves it on each failure: 4 -> 1
    assert p.window.size == 1
    assert p.may_go_again() == {ids[0]}
    assert sent.resend_due(TIMEOUT) == [ids[0]]


def test_a_probe_goes_when_every_place_has_missed_and_write_off_is_barred() -> None:
    p = ResendPolicy(UplinkSettings(kind="mqtt", gateway_id="g", host="h", batch_max_count=5,
                                    max_inflight=2, ack_timeout_s=TIMEOUT))
    p.window.missed()  # a window of 1 (the hard cap stays 4)
    sent = Sent(p)
    first = sent.new(0.0)  # never acked: written off at its second miss
    for k in (1, 2):
        p.overdue(k * TIMEOUT)
        sent.resend_due(k * TIMEOUT)
    assert p.flights[first].written_off
    second = sent.new(2 * TIMEOUT)  # takes the place; write-off barred until an ack in time
    for k in (3, 4):
        p.overdue(k * TIMEOUT + 1)
        sent.resend_due(k * TIMEOUT + 1)
    assert not p.flights[second].written_off and p.flights[second].misses == 2
    assert p.new_batch_room(False, 5) == "probe"
    probe = sent.new(4 * TIMEOUT + 2, probe=True)
    assert p.new_batch_room(False, 5) is None  # one probe at a time
    assert probe in p.may_go_again()  # it keeps its own place beyond the window
    acked = p.acked(probe, 4 * TIMEOUT + 3)  # in time: the next may be written off
    assert acked.flight is not None and not acked.late and p.may_write_off


def test_three_acks_in_time_past_a_written_off_batch_give_it_up() -> None:
    p, sent = policy()
    poison = sent.written_off()
    assert p.flights[poison].written_off
    given_up = []
    for k in range(REJECT_AFTER_ACKS):
        later = sent.new(2 * TIMEOUT + k)
        given_up = p.acked(later, 2 * TIMEOUT + k + 0.5).given_up
        assert (poison in p.flights) == (k < REJECT_AFTER_ACKS - 1)
    assert [b for b, _ in given_up] == [poison]


def test_a_late_ack_gives_nothing_up_and_marks_the_link_slow() -> None:
    p, sent = policy()
    poison = sent.written_off()
    slow = [sent.new(2 * TIMEOUT + 1) for _ in range(REJECT_AFTER_ACKS)]
    p.overdue(3 * TIMEOUT + 1)  # all missed once
    for batch_id in slow:
        acked = p.acked(batch_id, 3 * TIMEOUT + 2)
        assert acked.late and acked.given_up == []
    assert p.acks_late and poison in p.flights


def test_an_ack_of_a_split_whole_restarts_the_pieces_published_after_it() -> None:
    p, sent = policy()
    whole = sent.new(0.0)
    p.overdue(TIMEOUT)
    [(_, flight)] = p.due_again(TIMEOUT)
    assert p.split(whole) is flight and whole not in p.flights
    half = sent.new(TIMEOUT)
    acked = p.acked(whole, TIMEOUT + 20)  # late: the whole crossed at last
    assert acked.flight is None and whole not in p.split_places
    assert p.flights[half].sent_at == TIMEOUT + 20


def test_a_new_sender_process_sends_all_again_at_once() -> None:
    p, sent = policy()
    ids = [sent.new(0.0) for _ in range(2)]
    p.relinked(5.0, resend_all=True)
    assert sent.resend_due(5.0) == ids


def test_a_written_off_batch_acked_past_goes_again_once_then_waits_for_the_count() -> None:
    p, sent = policy()
    poison = sent.written_off()
    f = p.flights[poison]
    p.acked(sent.new(2 * TIMEOUT + 1), 2 * TIMEOUT + 2)  # in time, past its latest copy
    assert f.acked_past == 1 and f.hold_until == 0.0
    assert sent.resend_due(2 * TIMEOUT + 2) == [poison]  # its copy may have been lost
    assert f.acked_past == 0 and f.resent_past_acks
    p.acked(sent.new(2 * TIMEOUT + 3), 2 * TIMEOUT + 4)
    p.overdue(3 * TIMEOUT + 2)
    assert f.missed and f.acked_past == 1
    assert poison not in p.may_go_again()  # the hub answers the others: counted, not sent
    assert sent.resend_due(4 * TIMEOUT) == [] and p.next_resend_in(4 * TIMEOUT) == float("inf")
    given_up = []
    for k in range(REJECT_AFTER_ACKS - 1):
        given_up += p.acked(sent.new(4 * TIMEOUT + k), 4 * TIMEOUT + k + 0.5).given_up
    assert poison not in p.flights and [b for b, _ in given_up] == [poison]


def test_acks_of_the_other_lane_do_not_give_a_batch_up() -> None:
    """The hub answers its alerts' lane (the database) apart from the readings: acks of
    readings in time past a written-off alerts' batch count not, nor the other way round."""
    p, sent = policy()
    alerts = sent.new(0.0, alerts=True)
    readings = sent.written_off()
    for a in (alerts, readings):
        p.flights[a].written_off = True
    for k in range(2 * REJECT_AFTER_ACKS):
        p.acked(sent.new(2 * TIMEOUT + k), 2 * TIMEOUT + k + 0.5)
    assert alerts in p.flights and p.flights[alerts].acked_past == 0
    assert readings not in p.flights  # readings' acks past it: given up
    given_up = []
    for k in range(REJECT_AFTER_ACKS):
        given_up += p.acked(sent.new(3 * TIMEOUT + k, alerts=True), 3 * TIMEOUT + k + 0.5).given_up
    assert alerts not in p.flights and [b for b, _ in given_up] == [alerts]


@pytest.mark.parametrize("relink", [False, True])
def test_a_batch_acked_past_goes_again_after_a_link_failure_or_a_reconnect(
        relink: bool) -> None:
    """Gone again once for acks past it and acked past again, a written-off batch waits for
    the count; the link failing (a batch in time missing) or coming back starts that over,
    so it goes again (before: never again in its life, given up with no copy after a stall)."""
    p, sent = policy()
    poison = sent.written_off()
    f = p.flights[poison]
    p.acked(sent.new(2 * TIMEOUT + 1), 2 * TIMEOUT + 2)
    assert sent.resend_due(2 * TIMEOUT + 2) == [poison]
    p.acked(sent.new(2 * TIMEOUT + 3), 2 * TIMEOUT + 4)
    p.overdue(3 * TIMEOUT + 2)
    assert f.acked_past == 1 and f.resent_past_acks and poison not in p.may_go_again()
    if relink:
        p.relinked(4 * TIMEOUT, resend_all=False)
    else:
        sent.new(3 * TIMEOUT + 5)
        assert p.overdue(4 * TIMEOUT + 5)  # a failure of the link
    assert f.acked_past == 0 and not f.resent_past_acks and poison in p.may_go_again()


def acked_past_twice(p: ResendPolicy, sent: Sent, poison: str, at: float) -> None:
    """From ``at``: an ack in time past ``poison``, its copy for it, and another ack past:
    it waits for the count, not sent again."""
    p.acked(sent.new(at), at + 1)
    assert sent.resend_due(at + 1) == [poison]
    p.acked(sent.new(at + 2), at + 3)
    assert p.flights[poison].resent_past_acks and poison not in p.may_go_again()


def test_a_stall_starts_the_acks_past_over_after_flaps_used_the_restarts() -> None:
    """Two flaps (one batch missing, acks in time between) spend a batch's two start-overs
    (ACKS_PAST_RESTARTS); a stall after that (no ack in time for STALL_TIMEOUTS) still starts
    its count over, so it goes again in the stall and is not given up as the hub returns
    (before: frozen, given up ~26 s after the hub came back, as before 271a40c)."""
    p, sent = policy()
    poison = sent.written_off()
    f = p.flights[poison]
    t = 2 * TIMEOUT + 1
    for _ in range(2):  # two flaps, each with the count non-zero
        acked_past_twice(p, sent, poison, t)
        late = sent.new(t + 4)
        assert p.overdue(t + 4 + TIMEOUT)  # one readings batch acked late: a failure
        assert poison in p.may_go_again()
        p.acked(late, t + 5 + TIMEOUT)
        t += 2 * TIMEOUT + 10
    acked_past_twice(p, sent, poison, t)
    first = t + 4 + TIMEOUT
    sent.new(t + 4)
    assert p.overdue(first)  # the stall's first failure: its restarts are spent
    assert poison not in p.may_go_again()
    for k in range(1, STALL_TIMEOUTS + 1):  # a new batch each timeout, none acked
        sent.new(first + (k - 1) * TIMEOUT)
        assert p.overdue(first + k * TIMEOUT)
        stall = k >= STALL_TIMEOUTS  # no ack in time for STALL_TIMEOUTS timeouts
        assert (f.acked_past == 0 and not f.resent_past_acks) == stall, k  # may go again
    assert f.stall_restarted and f.acks_past_restarts == 2
