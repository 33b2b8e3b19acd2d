"""new_reading (the converter's fast constructor) makes exactly the Reading that
``Reading(...)`` makes from the same values, and names every field Reading has."""

from __future__ import annotations

import inspect
from dataclasses import fields

from hypothesis import given
from hypothesis import strategies as st

from siaga.firmware_bridge.reading import Reading, new_reading
from tests.slot_record_checks import assert_same_record

times = st.floats(0, 4e9, allow_nan=False)


def test_it_takes_every_field_in_order() -> None:
    # A field added to Reading must be added here too, or it would be left unset.
    assert list(inspect.signature(new_reading).parameters) == [f.name for f in fields(Reading)]


@given(st.tuples(
    st.text(max_size=16), st.text(max_size=16), st.floats(allow_nan=False), st.text(max_size=4),
    times, times, st.integers(0, 65535), st.text(max_size=20),
    st.none() | st.floats(allow_nan=False), st.none() | times,
    st.booleans(), st.booleans(), st.booleans()))
def test_equals_the_dataclass_constructor(values: tuple) -> None:  # type: ignore[type-arg]
    made, plain = new_reading(*values), Reading(*values)  # type: ignore[arg-type]
    assert_same_record(made, plain)
    assert made.to_json() == plain.to_json()
    assert [getattr(made, f.name) for f in fields(Reading)] == list(values)
