"""A Modbus device's register map as data: which register holds which Siaga channel.

The contract between a Modbus device and Siaga, as the frame codec is for our own
nodes: the gateway polls by it, the simulator answers by it. Pure but for reading the
shipped maps (``firmware_bridge/modbus_maps/*.toml``, ``shipped_map``). A map comes from
a TOML table (a shipped file, a file of your own, or a ``[modbus.maps.<name>]`` table
of the gateway config)::

    name = "soil-probe"
    description = "..."
    [[point]]
    channel = "vwc"          # the Siaga channel it feeds (firmware_bridge.channels)
    register = 0             # 0-based PDU address (a datasheet's 40001 is register 0)
    function = "holding"     # holding | input | coil | discrete
    type = "u16"             # u16 | s16 | u32 | s32 | f32 (registers); bool (coil, discrete)
    word_order = "big"       # 32-bit types: "big" = high word first (most devices), "little"
    scale = 0.1              # value = raw * scale + offset
    offset = 0.0
    unit = "%"               # checked against the channel's unit (a datasheet slip shows)

A counter channel (``rain``, ``pin``, ``pout``) takes the raw count (scale 1, offset
0); the gateway turns counts into increments with the same wrap- and reset-safe
logic as for serial nodes, with the register's width (u16 wraps at 65536) as the
counter's modulus.

``read_plan`` groups a map's points into as few requests as the standard allows
(contiguous registers of one function, at most 125 registers or 2000 bits each), and
``decode_points`` turns the answers back into channel values.
"""

from __future__ import annotations

import math
import struct
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from siaga.firmware_bridge.channels import CHANNELS, COUNTER_CHANNELS
from siaga.firmware_bridge.errors import RegisterMapError

Function = Literal["holding", "input", "coil", "discrete"]
ValueType = Literal["u16", "s16", "u32", "s32", "f32", "bool"]
WordOrder = Literal["big", "little"]

FUNCTIONS: tuple[Function, ...] = ("holding", "input", "coil", "discrete")
REGISTER_FUNCTIONS = frozenset({"holding", "input"})
VALUE_TYPES: tuple[ValueType, ...] = ("u16", "s16", "u32", "s32", "f32", "bool")
WORDS: dict[str, int] = {"u16": 1, "s16": 1, "u32": 2, "s32": 2, "f32": 2, "bool": 1}
# Modbus application protocol v1.1b3, 6.1-6.4: the most one read request may ask for.
MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000
MAX_ADDRESS = 65535
_POINT_KEYS = frozenset(
    {"channel", "register", "function", "type", "word_order", "scale", "offset", "unit"}
)
_MAP_KEYS = frozenset({"name", "description", "point"})
_CHANNEL_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True, slots=True)
class RegisterPoint:
    channel: str
    register: int
    function: Function = "holding"
    type: ValueType = "u16"
    word_order: WordOrder = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""

    @property
    def words(self) -> int:
        return WORDS[self.type]

    @property
    def is_counter(self) -> bool:
        return self.channel in COUNTER_CHANNELS

    @property
    def modulus(self) -> int:
        """Where the raw value wraps: a u16 counter at 65536, a u32 one at 2^32."""
        return 1 << (16 * self.words)


@dataclass(frozen=True, slots=True)
class RegisterMap:
    name: str
    points: tuple[RegisterPoint, ...]
    description: str = ""

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(p.channel for p in self.points)


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: ``count`` registers (or bits) of ``function`` from ``start``."""

    function: Function
    start: int
    count: int
    points: tuple[RegisterPoint, ...]


# ---------------------------------------------------------------- parsing


def shipped_map_names() -> tuple[str, ...]:
    folder = resources.files("siaga.firmware_bridge") / "modbus_maps"
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def shipped_map(name: str) -> RegisterMap:
    """A map shipped in ``firmware_bridge/modbus_maps`` by name (``soil-probe``)."""
    path = resources.files("siaga.firmware_bridge") / "modbus_maps" / f"{name}.toml"
    return parse_register_map(tomllib.loads(path.read_text()), f"modbus_maps/{name}.toml")


def parse_register_map(table: Mapping[str, Any], key: str) -> RegisterMap:
    """A map from its TOML table; raises RegisterMapError naming ``key.<field>``."""
    if not isinstance(table, Mapping):
        raise RegisterMapError(key, "must be a table")
    unknown = sorted(set(table) - _MAP_KEYS)
    if unknown:
        raise RegisterMapError(
            f"{key}.{unknown[0]}", "unknown key (known: name, description, point)")
    name = table.get("name", key.rsplit(".", 1)[-1])
    description = table.get("description", "")
    if not isinstance(name, str) or not name:
        raise RegisterMapError(f"{key}.name", "must be a non-empty string")
    if not isinstance(description, str):
        raise RegisterMapError(f"{key}.description", "must be a string")
    raw_points = table.get("point")
    if not isinstance(raw_points, list) or not raw_points:
        raise RegisterMapError(f"{key}.point", "must be a non-empty array of tables ([[point]])")
    points = tuple(_point(p, f"{key}.point[{i}]") for i, p in enumerate(raw_points))
    seen: dict[str, int] = {}
    for i, p in enumerate(points):
        if p.channel in seen:
            raise RegisterMapError(f"{key}.point[{i}].channel",
                              f"{p.channel!r} is already fed by point[{seen[p.channel]}]")
        seen[p.channel] = i
    return RegisterMap(name, points, description)


def _point(raw: Any, key: str) -> RegisterPoint:
    if not isinstance(raw, Mapping):
        raise RegisterMapError(key, "must be a table")
    unknown = sorted(set(raw) - _POINT_KEYS)
    if unknown:
        raise RegisterMapError(f"{key}.{unknown[0]}",
                          f"unknown key (known: {', '.join(sorted(_POINT_KEYS))})")
    channel = raw.get("channel")
    if (not isinstance(channel, str) or not 1 <= len(channel) <= 16
            or not set(channel) <= _CHANNEL_NAME_CHARS or not channel[0].isalpha()):
        raise RegisterMapError(f"{key}.channel", f"{channel!r}: 1-16 of a-z 0-9 _, starting a-z")
    register = raw.get("register")
    if isinstance(register, bool) or not isinstance(register, int) \
            or not 0 <= register <= MAX_ADDRESS:
        raise RegisterMapError(f"{key}.register", f"{register!r}: an integer 0..65535 (the PDU "
                          "address: datasheet 40001 or 30001 is register 0)")
    function = raw.get("function", "holding")
    if function not in FUNCTIONS:
        raise RegisterMapError(
            f"{key}.function", f"{function!r} is not one of {', '.join(FUNCTIONS)}")
    default_type = "u16" if function in REGISTER_FUNCTIONS else "bool"
    vtype = raw.get("type", default_type)
    if vtype not in VALUE_TYPES:
        raise RegisterMapError(f"{key}.type", f"{vtype!r} is not one of {', '.join(VALUE_TYPES)}")
    if (vtype == "bool") != (function not in REGISTER_FUNCTIONS):
        raise RegisterMapError(
            f"{key}.type", "coil and discrete points are bool; registers are not")
    if register + WORDS[vtype] - 1 > MAX_ADDRESS:
        raise RegisterMapError(f"{key}.register", "a 32-bit value needs two registers below 65536")
    word_order = raw.get("word_order", "big")
    if word_order not in ("big", "little"):
        raise RegisterMapError(f"{key}.word_order", f"{word_order!r} is not big or little")
    scale = _finite(raw.get("scale", 1.0), f"{key}.scale")
    offset = _finite(raw.get("offset", 0.0), f"{key}.offset")
    if scale == 0:
        raise RegisterMapError(f"{key}.scale", "must not be 0")
    unit = raw.get("unit", "")
    if not isinstance(unit, str):
        raise RegisterMapError(f"{key}.unit", "must be a string")
    point = RegisterPoint(channel, register, function, vtype, word_order, scale, offset, unit)
    spec = CHANNELS.get(channel)
    if spec is not None:
        if unit and unit != spec.unit:
            raise RegisterMapError(
                f"{key}.unit", f"{unit!r}: channel {channel} is in {spec.unit!r} "
                              "(set scale so the value is in that unit)")
        if spec.kind == "counter" and (scale != 1 or offset != 0 or vtype in ("s16", "s32",
                                                                                "f32", "bool")):
            raise RegisterMapError(f"{key}.type", f"{channel} is a counter: an unsigned count "
                              "(u16 or u32) with scale 1 and offset 0")
    return point


def _finite(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RegisterMapError(key, f"must be a finite number, got {value!r}")
    return float(value)


# ---------------------------------------------------------------- reading


def read_plan(points: Sequence[RegisterPoint], max_gap: int = 0) -> tuple[ReadBlock, ...]:
    """The fewest requests covering ``points``: per function, runs of addresses at most
    ``max_gap`` apart merged while within the standard's per-request limits.

    ``max_gap`` 0 reads only the registers named: many cheap devices answer an
    exception for an address they do not implement, so gaps are never read by default.
    """
    blocks: list[ReadBlock] = []
    for function in FUNCTIONS:
        mine = sorted((p for p in points if p.function == function), key=lambda p: p.register)
        limit = MAX_REGISTERS_PER_READ if function in REGISTER_FUNCTIONS else MAX_BITS_PER_READ
        start = end = -1
        group: list[RegisterPoint] = []
        for p in mine:
            p_end = p.register + p.words
            if group and p.register <= end + max_gap and max(end, p_end) - start <= limit:
                end = max(end, p_end)
                group.append(p)
                continue
            if group:
                blocks.append(ReadBlock(function, start, end - start, tuple(group)))
            start, end, group = p.register, p_end, [p]
        if group:
            blocks.append(ReadBlock(function, start, end - start, tuple(group)))
    return tuple(blocks)


def raw_value(point: RegisterPoint, words: Sequence[int]) -> float:
    """The unscaled value of ``point`` from its registers (or a 0/1 bit)."""
    t = point.type
    if t == "bool":
        return 1.0 if words[0] else 0.0
    if t == "u16":
        return float(words[0])
    if t == "s16":
        w = words[0]
        return float(w - 0x10000 if w & 0x8000 else w)
    hi, lo = (words[0], words[1]) if point.word_order == "big" else (words[1], words[0])
    data = struct.pack(">HH", hi, lo)
    if t == "u32":
        return float(struct.unpack(">I", data)[0])
    if t == "s32":
        return float(struct.unpack(">i", data)[0])
    return float(struct.unpack(">f", data)[0])


def decode_points(block: ReadBlock, data: Sequence[int]) -> dict[str, float]:
    """Channel values of one answered block (``data``: registers, or bits as 0/1).

    A float register holding NaN or infinity (a probe reporting "no reading") is
    left out: no value is better than a poisoned one.
    """
    out: dict[str, float] = {}
    for p in block.points:
        at = p.register - block.start
        raw = raw_value(p, data[at:at + p.words])
        value = raw if p.is_counter else raw * p.scale + p.offset
        if math.isfinite(value):
            out[p.channel] = round(value, 9) if not p.is_counter else value
    return out


def encode_value(point: RegisterPoint, value: float) -> list[int]:
    """The registers a device holding ``value`` answers (the simulator's side)."""
    raw = value if point.is_counter else (value - point.offset) / point.scale
    t = point.type
    if t == "bool":
        return [1 if raw else 0]
    if t == "f32":
        hi, lo = struct.unpack(">HH", struct.pack(">f", raw))
    else:
        n = round(raw)
        if t == "u16":
            return [n % 0x10000]
        if t == "s16":
            return [max(-0x8000, min(0x7FFF, n)) & 0xFFFF]
        if t == "u32":
            n %= 1 << 32
        else:
            n = max(-(1 << 31), min((1 << 31) - 1, n)) & 0xFFFFFFFF
        hi, lo = n >> 16, n & 0xFFFF
    return [hi, lo] if point.word_order == "big" else [lo, hi]
