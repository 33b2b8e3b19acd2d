"""reading_entry_payload writes a reading's buffered JSON through orjson or by hand (issue
17): for any reading it must carry exactly the values the JSON encoder writes for the same
record (by hand: byte for byte; orjson: the same bytes but a float's notation), and refuse
what the encoder refuses. Every test runs both paths: orjson's (installed with the gateway
group) and the standard library's (a gateway without orjson)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.firmware_bridge import json_library, uplink_codec
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.uplink import ms
from siaga.firmware_bridge.uplink_codec import _dumps, reading_entry_payload


@pytest.fixture(params=["orjson", "stdlib"])
def library(request: pytest.FixtureRequest) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "stdlib":
            mp.setattr(uplink_codec, "orjson_dumps", None)
        yield request.param


def both_paths(r: Reading) -> tuple[str, str]:
    """(orjson's payload, the standard library's) for one reading."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(uplink_codec, "orjson_dumps", None)
        by_hand = reading_entry_payload(r)
    return reading_entry_payload(r), by_hand


def test_orjson_is_installed_here() -> None:
    """The dev install pulls the gateway group, so the orjson path is the one tested first."""
    assert json_library.ORJSON and uplink_codec.orjson_dumps is not None


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
    fast, by_hand = both_paths(r)
    assert by_hand == by_encoder(r)
    # the same values: the encoder writes the parsed payload back to its own bytes (an int
    # stays an int, -0.0 keeps its sign, every key in its place)
    assert _dumps(json.loads(fast)) == by_encoder(r)


def test_orjson_differs_only_in_a_floats_notation() -> None:
    """Deliberately exact: a later orjson that writes floats another way fails here, and
    the docstring of reading_entry_payload must then say what it writes."""
    r = Reading(node="n", channel="rain", value=1e-7, unit="mm", ts=1.0, received_at=1.0,
                seq=1, source="mqtt", raw=1.5e-05)
    fast, by_hand = both_paths(r)
    assert by_hand == by_encoder(r)
    assert fast == by_hand.replace("1e-07", "1e-7").replace("1.5e-05", "0.000015")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["value", "raw"])
def test_nan_and_infinity_are_refused_like_the_encoder(bad: float, field: str,
                                                       library: str) -> None:
    kw = {"value": 1.0, "raw": None, field: bad}
    r = Reading(node="n", channel="rain", unit="mm", ts=1.0, received_at=1.0, seq=1,
                source="mqtt", **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        by_encoder(r)
    with pytest.raises(ValueError):
        reading_entry_payload(r)


def test_a_nan_seq_is_refused_like_the_encoder(library: str) -> None:
    """orjson would write a float seq's NaN as null."""
    r = Reading(node="n", channel="rain", value=1.0, unit="mm", ts=1.0, received_at=1.0,
                seq=math.nan, source="mqtt")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        by_encoder(r)
    with pytest.raises(ValueError):
        reading_entry_payload(r)


def test_odd_types_take_the_encoders_path(library: str) -> None:
    r = Reading(node="n", channel="rain", value=True, unit="mm", ts=1.0,  # type: ignore[arg-type]
                received_at=1.0, seq=1, source="mqtt", raw=-0.0, late=1)  # type: ignore[arg-type]
    assert reading_entry_payload(r) == by_encoder(r)


class Degrees(float):
    """A float subclass (numpy's float64 is one): orjson refuses it."""


@pytest.mark.parametrize("odd", [
    {"value": 2**64},  # beyond orjson's 64 bits
    {"value": -(2**63) - 1},
    {"value": Degrees(21.5)},
    {"raw": Degrees(-0.0)},
])
def test_what_orjson_refuses_takes_the_encoders_path(odd: dict[str, object],
                                                    library: str) -> None:
    kw: dict[str, object] = {"node": "n", "value": 1.0, "raw": None, **odd}
    r = Reading(channel="rain", unit="mm", ts=1.0, received_at=1.0, seq=1,  # type: ignore[arg-type]
                source="mqtt", **kw)
    assert reading_entry_payload(r) == by_encoder(r)


@pytest.mark.parametrize("field", ["node", "channel", "unit", "source"])
def test_a_lone_surrogate_is_refused(field: str, library: str) -> None:
    """The plain form's text cannot be UTF-8 (nor bound by the buffer's SQLite): refused like
    NaN, so the buffer rejects that entry alone."""
    kw: dict[str, object] = {"node": "n", "channel": "rain", "unit": "mm", "source": "mqtt"}
    kw[field] = "x\ud800"
    r = Reading(value=1.0, ts=1.0, received_at=1.0, seq=1, **kw)  # type: ignore[arg-type]
    with pytest.raises(UnicodeEncodeError):
        by_encoder(r).encode()
    with pytest.raises(ValueError):
        reading_entry_payload(r)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_float_subclass_is_refused(bad: float, library: str) -> None:
    r = Reading(node="n", channel="rain", value=Degrees(bad), unit="mm", ts=1.0,
                received_at=1.0, seq=1, source="mqtt")
    with pytest.raises(ValueError):
        reading_entry_payload(r)


@given(st.one_of(st.floats(min_value=-1e12, max_value=1e13, allow_nan=False),
                 st.integers(min_value=-(2**43), max_value=2**43)))
def test_ms_is_the_rounded_integer_milliseconds(ts: float) -> None:
    """``ms`` leaves out the ``int()`` around ``round`` (issue 17): same value, still an int."""
    got = ms(ts)
    assert type(got) is int
    assert got == int(round(ts * 1000))
