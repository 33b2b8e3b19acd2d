"""SampleConverter inlines the value rules for speed (convert.py); held here to value_problem,
the table's one check, so the two statements of the check cannot drift apart."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.firmware_bridge.channels import CHANNELS, COUNTER_CHANNELS, VALUE_BOUND, value_problem
from siaga.firmware_bridge.convert import SampleConverter

T0 = 1_700_000_000.0
_UNKNOWN = ["mystery", "x9", "RAIN"]


def _edges() -> list[float]:
    out: list[float] = [math.nan, math.inf, -math.inf, 0.0]
    for spec in CHANNELS.values():
        for x in (*spec.accept, -VALUE_BOUND, VALUE_BOUND):
            out += [x, math.nextafter(x, -math.inf), math.nextafter(x, math.inf)]
    return out


def _kept_by_rules(channel: str, value: float) -> bool:
    if channel in COUNTER_CHANNELS:  # a fresh converter: the first count is the baseline, 0
        return value_problem(channel, 0.0, value) is None
    return value_problem(channel, value) is None


def _kept_by_converter(channel: str, value: float) -> bool:
    readings = SampleConverter().convert("n1", 1, {channel: value}, None, T0, "s")
    return [r.channel for r in readings] == [channel]


def test_converter_keeps_exactly_what_value_problem_accepts_at_every_edge() -> None:
    for channel in [*CHANNELS, *_UNKNOWN]:
        for value in _edges():
            assert _kept_by_converter(channel, value) == _kept_by_rules(channel, value), (
                channel, value)


@settings(max_examples=500)
@given(st.sampled_from([*CHANNELS, *_UNKNOWN]),
       st.one_of(st.floats(), st.sampled_from(_edges())))
def test_converter_keeps_exactly_what_value_problem_accepts(channel: str, value: float) -> None:
    assert _kept_by_converter(channel, value) == _kept_by_rules(channel, value)
