"""Records built through ``slots_twin`` (firmware_bridge/slot_records.py) are the records
their own constructors make: type, fields, equality, hash, repr and immutability; and
where CPython refuses a record's twin, its fast constructor is the plain one."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from dataclasses import FrozenInstanceError, dataclass, replace
from pathlib import Path

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


@dataclass(frozen=True, slots=True, weakref_slot=True)
class _Weakly:
    x: int


def test_a_record_cpython_will_not_switch_to_gets_no_twin() -> None:
    # CPython 3.11 refuses the switch for a weakref_slot record ("object layout differs"),
    # though the twin has the same slots; later versions take it.
    twin = slots_twin(_Weakly)
    if sys.version_info < (3, 12):
        assert twin is None
    if twin is not None:
        w = twin()
        w.x = 1
        w.__class__ = _Weakly
        assert_same_record(w, _Weakly(1))


# A slot_records whose slots_twin answers None stands in for a CPython that refuses every
# record's twin (as 3.11 does a weakref_slot record's): put in sys.modules of a fresh
# interpreter before siaga.firmware_bridge (whose __init__ loads the record modules) is.
WITHOUT_TWINS = """
import sys, types
refusing = types.ModuleType("siaga.firmware_bridge.slot_records")
refusing.slots_twin = lambda record: None
sys.modules[refusing.__name__] = refusing
from siaga.firmware_bridge import device_message, reading
from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.gateway import buffer_rows, messages
from tests.slot_record_checks import assert_same_record
assert reading.new_reading is reading.Reading
assert messages.new_node_message is messages.NodeMessage
assert device_message._new_up is device_message._plain_up
assert buffer_rows.new_entries is buffer_rows._plain_entries
assert_same_record(device_message.decode_device_message("siaga/node/n-1/up",
                                                        b'{"seq":3,"ts":5,"up":7,"v":{"vwc":1.5}}'),
                   DeviceMessage("up", "n-1", 3, values={"vwc": 1.5}, ts_ms=5, uptime_ms=7))
old, new = buffer_rows.new_entries([(1, "{}", 5), (2, "[]", 9)], 6)
assert_same_record(old, buffer_rows.Entry(1, "{}", 5, True))
assert_same_record(new, buffer_rows.Entry(2, "[]", 9, False))
print("plain")
"""


def test_without_twins_each_fast_constructor_is_the_plain_one() -> None:
    out = subprocess.run([sys.executable, "-c", WITHOUT_TWINS], capture_output=True, text=True,
                         cwd=Path(__file__).parents[3])
    assert out.returncode == 0 and out.stdout == "plain\n", out.stderr
