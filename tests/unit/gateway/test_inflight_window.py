"""The MQTT in-flight window's rule (gateway/uplink/inflight_window.py): pure, no network."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.gateway.uplink.inflight_window import InflightWindow


def test_starts_at_the_ceiling_and_halves_on_each_miss_down_to_one() -> None:
    w = InflightWindow(8)
    assert w.size == 8
    assert [w.missed() for _ in range(5)] == [4, 2, 1, 1, 1]


def test_grows_by_one_per_windows_worth_of_acks_up_to_the_ceiling() -> None:
    w = InflightWindow(4)
    w.missed()
    w.missed()
    assert w.size == 1
    assert w.acked() == 2  # one ack fills a window of 1
    assert [w.acked() for _ in range(2)] == [2, 3]  # two at 2
    assert [w.acked() for _ in range(3)] == [3, 3, 4]
    assert [w.acked() for _ in range(8)] == [4] * 8  # the ceiling


def test_a_miss_restarts_the_ack_count() -> None:
    w = InflightWindow(4)
    w.missed()  # 2
    w.acked()  # one of two toward 3
    w.missed()  # 1
    assert w.acked() == 2  # a fresh count at 1, not the earlier ack carried over


def test_room_and_resends_count_every_batch_in_flight() -> None:
    w = InflightWindow(4)
    w.missed()  # 2
    assert w.has_room(1) and not w.has_room(2) and not w.has_room(5)
    # the two oldest in flight may go again when overdue; the third waits for an ack
    assert w.may_resend(0) and w.may_resend(1) and not w.may_resend(2)


def test_the_oldest_may_always_go_again() -> None:
    """A lost ack cannot stall the uplink: at the smallest window the oldest still resends."""
    w = InflightWindow(4)
    for _ in range(10):
        w.missed()
    assert w.size == 1 and w.may_resend(0) and not w.has_room(1)


def test_a_ceiling_of_one_never_changes() -> None:
    w = InflightWindow(1)
    assert (w.acked(), w.missed(), w.acked()) == (1, 1, 1)


@pytest.mark.parametrize("ceiling", [0, -3])
def test_a_ceiling_below_one_is_refused(ceiling: int) -> None:
    with pytest.raises(ValueError, match="ceiling"):
        InflightWindow(ceiling)


@given(ceiling=st.integers(1, 100), script=st.lists(st.booleans(), max_size=200))
def test_any_history_stays_within_one_and_the_ceiling(ceiling: int, script: list[bool]) -> None:
    """True: an ack, False: a miss. Every miss halves (to 1); only acks grow, by one at most."""
    w = InflightWindow(ceiling)
    for ack in script:
        before = w.size
        after = w.acked() if ack else w.missed()
        if ack:
            assert after in (before, min(ceiling, before + 1))
        else:
            assert after == max(1, before // 2)
        assert 1 <= w.size <= ceiling
        assert w.may_resend(0) and not w.may_resend(w.size)
        assert w.has_room(w.size - 1) and not w.has_room(w.size)
