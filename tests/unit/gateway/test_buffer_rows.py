"""``new_entries`` builds the uplink's ``Entry`` records in a twin of their slots
(firmware_bridge/slot_records.py, issue 17): each must be ``Entry(...)`` made the plain
way, slot for slot."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.gateway.buffer_rows import Entry, new_entries
from tests.slot_record_checks import assert_same_record

rows = st.lists(st.tuples(st.integers(1, 2**62), st.text(max_size=40),
                          st.integers(0, 2**45)), max_size=20)


@given(rows=rows, cutoff=st.integers(0, 2**45))
def test_equals_the_plain_entries(rows: list[tuple[int, str, int]], cutoff: int) -> None:
    made = new_entries(rows, cutoff)
    assert len(made) == len(rows)
    for entry, (i, p, e) in zip(made, rows, strict=True):
        assert_same_record(entry, Entry(i, p, e, e < cutoff))
        assert entry.backfill is (e < cutoff)


def test_entries_stay_frozen() -> None:
    (e,) = new_entries([(7, "{}", 5)], 6)
    with pytest.raises(FrozenInstanceError):
        e.id = 8  # type: ignore[misc]
    assert e == Entry(7, "{}", 5, True) and hash(e) == hash(Entry(7, "{}", 5, True))
