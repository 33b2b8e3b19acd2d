"""The batch sizer's rules (gateway/uplink/batch_sizer.py): pure, no network."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from siaga.gateway.uplink.batch_sizer import MAX_BODY_BYTES, BatchSizer

FAST = 0.05  # seconds a batch took on a fast link
BYTES_PER_ENTRY = 260  # a reading's JSON in a batch


def full(sizer: BatchSizer, seconds: float = FAST, waiting: int = 100_000) -> int:
    n = sizer.count
    return sizer.delivered(n, n * BYTES_PER_ENTRY, seconds, waiting)


def test_grows_by_doubling_to_the_ceiling_while_a_backlog_drains_fast() -> None:
    s = BatchSizer(500, 5000, timeout_s=15.0)
    assert s.count == 500
    assert [full(s) for _ in range(5)] == [1000, 2000, 4000, 5000, 5000]


def test_no_backlog_no_growth() -> None:
    s = BatchSizer(500, 5000, timeout_s=15.0)
    assert full(s, waiting=0) == 500
    assert full(s, waiting=500) == 500  # no more waiting than the batch holds
    assert full(s, waiting=501) == 1000


def test_a_short_batch_does_not_grow_it() -> None:
    s = BatchSizer(500, 5000, timeout_s=15.0)
    assert s.delivered(499, 499 * BYTES_PER_ENTRY, FAST, 10_000) == 500
    assert s.delivered(3, 3000, 0.01, 10_000) == 500  # a batch of alerts


def test_grows_only_while_the_projected_time_stays_inside_a_third_of_the_timeout() -> None:
    s = BatchSizer(500, 5000, timeout_s=15.0)
    # GPRS, ~5 kB/s: a 500-reading batch (~12 kB gzip'd) takes ~2.5 s; 1000 would take 5 s.
    assert full(s, seconds=2.5) == 1000  # exactly the 5 s target: still inside
    assert full(s, seconds=5.1) == 500  # over the target: halved
    assert full(s, seconds=2.6) == 500  # 1000 would take 5.2 s
    assert s.target_s == 5.0


def test_a_slow_success_halves_it() -> None:
    s = BatchSizer(500, 8000, timeout_s=15.0)
    for _ in range(4):
        full(s)
    assert s.count == 8000
    assert full(s, seconds=6.0) == 4000
    assert full(s, seconds=6.0, waiting=0) == 2000  # slow: halved with or without a backlog


def test_failure_and_413_shrink_at_once_to_the_floor() -> None:
    s = BatchSizer(500, 5000, timeout_s=15.0)
    for _ in range(4):
        full(s)
    assert s.failed() == 2500
    assert s.failed() == 1250
    assert s.failed() == 625
    assert s.failed() == 500
    assert s.failed() == 500


def test_413_caps_the_body_it_grows_to() -> None:
    s = BatchSizer(500, 50_000, timeout_s=15.0)
    for _ in range(3):
        full(s)
    assert s.count == 4000
    refused = 4000 * BYTES_PER_ENTRY
    assert s.too_large(refused) == 2000
    assert full(s) == 2000  # 4000 would be the refused body again
    assert s.max_body_bytes == refused * 3 // 4
    assert s.fits(refused * 3 // 4) and not s.fits(refused * 3 // 4 + 1)


def test_the_body_cap_bounds_growth() -> None:
    s = BatchSizer(500, 50_000, timeout_s=15.0)
    while full(s) < 50_000 and s.count * 2 * BYTES_PER_ENTRY <= MAX_BODY_BYTES:
        pass
    assert s.count * BYTES_PER_ENTRY <= MAX_BODY_BYTES < s.count * 2 * BYTES_PER_ENTRY
    assert full(s) == s.count  # stays


def test_a_ceiling_at_or_below_the_floor_switches_growing_off() -> None:
    for ceiling in (500, 100):
        s = BatchSizer(500, ceiling, timeout_s=15.0)
        assert full(s) == 500 and s.ceiling == 500 and s.failed() == 500


events = st.lists(st.one_of(
    st.tuples(st.just("delivered"), st.integers(0, 60_000), st.floats(0, 60),
              st.integers(0, 200_000), st.integers(0, 10 ** 8)),
    st.tuples(st.just("failed")),
    st.tuples(st.just("too_large"), st.integers(1, 10 ** 8)),
), max_size=60)


@given(floor=st.integers(1, 5000), ceiling=st.integers(1, 50_000),
       timeout_s=st.floats(0.1, 120), script=events)
def test_any_history_stays_within_floor_and_ceiling(
    floor: int, ceiling: int, timeout_s: float, script: list[tuple],
) -> None:
    s = BatchSizer(floor, ceiling, timeout_s)
    for event in script:
        before = s.count
        if event[0] == "delivered":
            _, entries, seconds, waiting, body = event
            after = s.delivered(entries, body, seconds, waiting)
            if waiting <= before or entries < before:
                assert after <= before  # never grows without a backlog and a full batch
            if seconds > s.target_s:
                assert after == max(floor, before // 2)
        elif event[0] == "failed":
            assert s.failed() == max(floor, before // 2)
        else:
            assert s.too_large(event[1]) == max(floor, before // 2)
        assert floor <= s.count <= max(floor, ceiling)
