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


def test_the_window_holds_its_oldest_places() -> None:
    w = InflightWindow(4)
    w.missed()  # 2
    # the two oldest places: a new batch behind one goes, behind two it waits; an overdue
    # batch at place 0 or 1 goes again, at place 2 it waits for an ack
    assert w.holds(0) and w.holds(1) and not w.holds(2) and not w.holds(5)


def test_the_oldest_place_is_always_inside() -> None:
    """A lost ack cannot stall the uplink: at the smallest window the oldest still resends."""
    w = InflightWindow(4)
    for _ in range(10):
        w.missed()
    assert w.size == 1 and w.holds(0) and not w.holds(1)


def test_a_ceiling_of_one_never_changes() -> None:
    w = InflightWindow(1)
    assert (w.acked(), w.missed(), w.acked()) == (1, 1, 1)


@pytest.mark.parametrize("ceiling", [0, -3])
def test_a_ceiling_below_one_is_refused(ceiling: int) -> None:
    with pytest.raises(ValueError, match="ceiling"):
        InflightWindow(ceiling)


@given(ceiling=st.integers(1, 100), script=st.lists(st.booleans(), max_size=200))
def test_any_history_stays_within_one_and_the_ceiling(ceiling: int, script: list[bool]) -> None:
    """True: an ack, False: a miss. Every miss halves (to 1); only acks grow, by one at most;
    the oldest place is always inside."""
    w = InflightWindow(ceiling)
    for ack in script:
        before = w.size
        after = w.acked() if ack else w.missed()
        if ack:
            assert after in (before, min(ceiling, before + 1))
        else:
            assert after == max(1, before // 2)
        assert 1 <= w.size <= ceiling and w.size == after
        assert w.holds(0)


@given(ceiling=st.integers(1, 30), script=st.lists(st.booleans(), max_size=100))
def test_after_any_history_acks_alone_bring_it_back_to_the_ceiling(
    ceiling: int, script: list[bool],
) -> None:
    """However low misses took it, it grows back: at most size acks per step of one, so
    the ceiling within ceiling * (ceiling + 1) / 2 acks, and then it stays there."""
    w = InflightWindow(ceiling)
    for ack in script:
        w.acked() if ack else w.missed()
    sizes = [w.acked() for _ in range(ceiling * (ceiling + 1) // 2)]
    assert w.size == ceiling
    assert sizes == sorted(sizes)  # acks never shrink it
    assert w.holds(ceiling - 1) and not w.holds(ceiling)
