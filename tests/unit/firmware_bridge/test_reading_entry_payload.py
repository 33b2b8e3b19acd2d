"""reading_entry_payload writes a reading's buffered JSON by hand (issue 17): it must be
byte for byte what the JSON encoder writes for the same record, for any reading, and
refuse what the encoder refuses."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.uplink import _dumps, ms, reading_entry_payload


def by_encoder(r: Reading) -> str:
    return _dumps({
        "node": r.node, "channel": r.channel, "value": r.value, "unit": r.unit,
        "ts": ms(r.ts), "rx": ms(r.received_at), "seq": r.seq, "src": r.source,
        "raw": r.raw, "skew": r.clock_skewed, "reset": r.counter_reset, "late": r.late,
    })


finite = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(min_size=0, max_size=12)  # quotes, backslashes, control chars, non-ASCII


@settings(max_examples=400, deadline=None)
@given(node=texts, channel=texts, unit=texts, source=texts,
       value=st.one_of(finite, st.integers(-2**70, 2**70)),
       raw=st.one_of(st.none(), finite, st.integers(-2**40, 2**40)),
       ts=st.floats(0, 4e9), rx=st.floats(0, 4e9), seq=st.integers(0, 2**32),
       flags=st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_equals_the_encoder(node: str, channel: str, unit: str, source: str, value: float,
                            raw: float | None, ts: float, rx: float, seq: int,
                            flags: tuple[bool, bool, bool]) -> None:
    r = Reading(node=node, channel=channel, value=value, unit=unit, ts=ts, received_at=rx,
                seq=seq, source=source, raw=raw, clock_skewed=flags[0],
                counter_reset=flags[1], late=flags[2])
    assert reading_entry_payload(r) == by_encoder(r)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["value", "raw"])
def test_nan_and_infinity_are_refused_like_the_encoder(bad: float, field: str) -> None:
    kw = {"value": 1.0, "raw": None, field: bad}
    r = Reading(node="n", channel="rain", unit="mm", ts=1.0, received_at=1.0, seq=1,
                source="mqtt", **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        by_encoder(r)
    with pytest.raises(ValueError):
        reading_entry_payload(r)


def test_odd_types_take_the_encoders_path() -> None:
    r = Reading(node="n", channel="rain", value=True, unit="mm", ts=1.0,  # type: ignore[arg-type]
                received_at=1.0, seq=1, source="mqtt", raw=-0.0, late=1)  # type: ignore[arg-type]
    assert reading_entry_payload(r) == by_encoder(r)
