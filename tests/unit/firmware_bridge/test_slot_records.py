"""Records built through ``slots_twin`` (firmware_bridge/slot_records.py) are the records
their own constructors make: type, fields, equality, hash, repr and immutability."""

from __future__ import annotations

import copy
import pickle
from dataclasses import FrozenInstanceError, dataclass, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.firmware_bridge.device_message import DeviceMessage, _new_up
from siaga.firmware_bridge.slot_records import slots_twin
from tests.slot_record_checks import assert_same_record


@dataclass(frozen=True, slots=True)
class _Point:
    x: int
    y: int


@dataclass(frozen=True)
class _Plain:
    x: int


@dataclass(frozen=True, slots=True)
class _Child(_Point):
    z: int = 0


def test_a_twin_makes_the_record() -> None:
    twin = slots_twin(_Point)
    p = twin()
    p.x, p.y = 1, 2
    p.__class__ = _Point
    assert_same_record(p, _Point(1, 2))
    assert repr(p) == "_Point(x=1, y=2)"
    with pytest.raises(FrozenInstanceError):
        p.x = 3  # type: ignore[misc]
    assert replace(p, y=5) == _Point(1, 5)
    assert copy.copy(p) == p and pickle.loads(pickle.dumps(p)) == p


@pytest.mark.parametrize("record", [_Plain, _Child, int])
def test_only_a_slotted_record_of_its_own_gets_a_twin(record: type) -> None:
    with pytest.raises(TypeError):
        slots_twin(record)


@given(st.text(max_size=16), st.integers(0, 65535),
       st.dictionaries(st.text(max_size=8), st.floats(allow_nan=False) | st.integers()),
       st.none() | st.integers(0, 2**53), st.none() | st.integers(-(2**53), 2**53))
def test_up_message_equals_the_dataclass_constructor(
    node: str, seq: int, values: dict[str, float], ts_ms: int | None, uptime_ms: int | None,
) -> None:
    assert_same_record(
        _new_up(node, seq, values, ts_ms, uptime_ms),
        DeviceMessage("up", node, seq, values=values, ts_ms=ts_ms, uptime_ms=uptime_ms))
