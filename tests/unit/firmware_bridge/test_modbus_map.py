"""Register maps as data: parsing (every error names its key), decoding, the read plan."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.firmware_bridge.errors import RegisterMapError
from siaga.firmware_bridge.modbus_map import (
    MAX_REGISTERS_PER_READ,
    ReadBlock,
    RegisterPoint,
    decode_points,
    encode_value,
    parse_register_map,
    raw_value,
    read_plan,
    shipped_map,
    shipped_map_names,
)


def point(**kw: object) -> dict[str, object]:
    return {"channel": "vwc", "register": 0, **kw}


def test_every_shipped_map_parses_with_units_matching_the_channel_table() -> None:
    names = shipped_map_names()
    assert set(names) >= {"soil-probe", "rain-counter", "water-level", "inclinometer"}
    for name in names:
        m = shipped_map(name)
        assert m.name == name and m.points and m.description


def test_soil_probe_datasheet_frame_decodes_to_channel_values() -> None:
    # Holding 0-2 as such a probe answers them: 0x0164 = 356 -> 35.6 %, 0xFF9C = -100 ->
    # -10.0 degC, 0x01F4 = 500 uS/cm.
    m = shipped_map("soil-probe")
    (block,) = read_plan(m.points)
    assert (block.function, block.start, block.count) == ("holding", 0, 3)
    assert decode_points(block, [0x0164, 0xFF9C, 0x01F4]) == {
        "vwc": 35.6, "temp": -10.0, "ec": 500.0}


@pytest.mark.parametrize(("vtype", "order", "words", "want"), [
    ("u32", "big", [0x0001, 0x0002], 65538.0),
    ("u32", "little", [0x0002, 0x0001], 65538.0),
    ("s32", "big", [0xFFFF, 0xFFFE], -2.0),
    ("s32", "little", [0xFFFE, 0xFFFF], -2.0),
    ("f32", "big", list(struct.unpack(">HH", struct.pack(">f", 12.5))), 12.5),
    ("f32", "little", list(struct.unpack(">HH", struct.pack(">f", 12.5)))[::-1], 12.5),
    ("s16", "big", [0x8000], -32768.0),
    ("u16", "big", [0xFFFF], 65535.0),
])
def test_raw_value_types_and_word_orders(vtype: str, order: str, words: list[int],
                                         want: float) -> None:
    p = RegisterPoint("x", 0, "holding", vtype, order)  # type: ignore[arg-type]
    assert raw_value(p, words) == want


@given(st.sampled_from(["u16", "s16", "u32", "s32"]), st.sampled_from(["big", "little"]),
       st.integers(-30000, 30000))
def test_encode_then_decode_gives_the_value_back(vtype: str, order: str, n: int) -> None:
    if vtype.startswith("u"):
        n = abs(n)
    p = RegisterPoint("level", 7, "holding", vtype, order, scale=0.01, offset=-3.0)  # type: ignore[arg-type]
    value = n * 0.01 - 3.0
    block = ReadBlock("holding", 7, p.words, (p,))
    assert math.isclose(decode_points(block, encode_value(p, value))["level"], value,
                        abs_tol=1e-9)


def test_a_nan_float_register_is_left_out_not_passed_on() -> None:
    p = RegisterPoint("temp", 0, "input", "f32")
    words = list(struct.unpack(">HH", struct.pack(">f", float("nan"))))
    assert decode_points(ReadBlock("input", 0, 2, (p,)), words) == {}


def test_read_plan_merges_contiguous_registers_and_splits_functions_and_gaps() -> None:
    pts = [RegisterPoint("a", 0), RegisterPoint("b", 1, type="u32"),
           RegisterPoint("c", 10), RegisterPoint("d", 0, "input"),
           RegisterPoint("e", 5, "coil", "bool")]
    plan = read_plan(pts)
    assert [(b.function, b.start, b.count) for b in plan] == [
        ("holding", 0, 3), ("holding", 10, 1), ("input", 0, 1), ("coil", 5, 1)]
    assert [(b.start, b.count) for b in read_plan(pts[:3], max_gap=7)] == [(0, 11)]


def test_read_plan_never_asks_for_more_than_the_standard_allows() -> None:
    pts = [RegisterPoint(f"c{i}", i * 2, type="u32") for i in range(100)]
    plan = read_plan(pts)
    assert all(b.count <= MAX_REGISTERS_PER_READ for b in plan)
    assert sum(len(b.points) for b in plan) == 100


@pytest.mark.parametrize(("raw", "key", "fragment"), [
    ({"point": []}, "m.point", "non-empty"),
    ({"point": [point(register=-1)]}, "m.point[0].register", "0..65535"),
    ({"point": [point(register=65535, type="u32")]}, "m.point[0].register", "two registers"),
    ({"point": [point(function="analog")]}, "m.point[0].function", "not one of"),
    ({"point": [point(type="u64")]}, "m.point[0].type", "not one of"),
    ({"point": [point(function="coil", type="u16")]}, "m.point[0].type", "bool"),
    ({"point": [point(word_order="middle", type="u32")]}, "m.point[0].word_order", "big"),
    ({"point": [point(scale=0)]}, "m.point[0].scale", "not be 0"),
    ({"point": [point(scale=float("nan"))]}, "m.point[0].scale", "finite"),
    ({"point": [point(unit="degC")]}, "m.point[0].unit", "'%'"),
    ({"point": [point(channel="Rain!")]}, "m.point[0].channel", "a-z"),
    ({"point": [point(channel="rain", scale=0.2)]}, "m.point[0].type", "counter"),
    ({"point": [point(channel="rain", type="s16")]}, "m.point[0].type", "counter"),
    ({"point": [point(), point(register=1)]}, "m.point[1].channel", "already"),
    ({"point": [point(colour="red")]}, "m.point[0].colour", "unknown"),
    ({"points": [point()]}, "m.points", "unknown"),
    ({"point": ["vwc"]}, "m.point[0]", "table"),
])
def test_bad_maps_name_the_key(raw: dict[str, object], key: str, fragment: str) -> None:
    with pytest.raises(RegisterMapError) as e:
        parse_register_map(raw, "m")
    assert e.value.key == key
    assert fragment in e.value.problem


def test_counter_modulus_follows_the_register_width() -> None:
    assert RegisterPoint("rain", 0, type="u16").modulus == 65536
    assert RegisterPoint("rain", 0, type="u32").modulus == 2**32
    assert RegisterPoint("rain", 0).is_counter and not RegisterPoint("vwc", 0).is_counter
