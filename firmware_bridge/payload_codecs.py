"""LoRaWAN payload codecs: Cayenne LPP and a byte layout written as data.

Pure. Each codec turns a frame payload (``FRMPayload``, bytes) into
``{siaga_channel: value}``; ``PayloadError(reason, detail)`` for a payload that
does not decode. Used when the network server hands over no decoded object.

**Cayenne LPP** (myDevices' Low Power Payload): a sequence of ``channel, type,
data`` records. Types decoded (size in bytes, resolution): 0 digital input (1),
1 digital output (1), 2 analog input (2, 0.01 signed), 3 analog output (2, 0.01
signed), 100 generic sensor (4, unsigned: counts), 101 illuminance (2, lux),
102 presence (1), 103 temperature (2, 0.1 degC signed), 104 humidity (1, 0.5 %),
115 barometer (2, 0.1 hPa), 116 voltage (2, 0.01 V), 120 percentage (1),
125 concentration (2, ppm); 113 accelerometer (6), 134 gyrometer (6) and 136 GPS
(9) are skipped over. A profile maps LPP channel numbers to Siaga channels;
records on unmapped channels are ignored.

**Byte layout**: ``[[field]]`` tables, each ``channel``, ``offset`` (byte),
``type`` (u8 s8 u16 s16 u32 s32 f32), ``order`` (big | little), ``scale``,
``add`` (value = raw * scale + add). A payload shorter than the layout needs is
refused whole.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from siaga.firmware_bridge.errors import FirmwareBridgeError

# type -> (size, struct format of one value, resolution); None: skipped over.
_LPP: dict[int, tuple[int, str | None, float]] = {
    0: (1, ">B", 1.0), 1: (1, ">B", 1.0), 2: (2, ">h", 0.01), 3: (2, ">h", 0.01),
    100: (4, ">I", 1.0), 101: (2, ">H", 1.0), 102: (1, ">B", 1.0), 103: (2, ">h", 0.1),
    104: (1, ">B", 0.5), 115: (2, ">H", 0.1), 116: (2, ">H", 0.01), 120: (1, ">B", 1.0),
    125: (2, ">H", 1.0), 113: (6, None, 0.0), 134: (6, None, 0.0), 136: (9, None, 0.0),
}
LPP_TYPES = frozenset(_LPP)
FieldType = Literal["u8", "s8", "u16", "s16", "u32", "s32", "f32"]
_FIELD_FORMATS = {"u8": "B", "s8": "b", "u16": "H", "s16": "h", "u32": "I", "s32": "i",
                  "f32": "f"}


class PayloadError(FirmwareBridgeError):
    """A LoRaWAN payload its profile's codec cannot decode."""


def decode_cayenne_lpp(payload: bytes, channels: Mapping[int, str]) -> dict[str, float]:
    """``{siaga_channel: value}`` of the LPP records on mapped channels."""
    out: dict[str, float] = {}
    at = 0
    while at < len(payload):
        if at + 2 > len(payload):
            raise PayloadError("lpp_truncated", f"record header cut at byte {at}")
        lpp_channel, lpp_type = payload[at], payload[at + 1]
        spec = _LPP.get(lpp_type)
        if spec is None:
            raise PayloadError("lpp_unknown_type", f"type {lpp_type} at byte {at + 1}")
        size, fmt, resolution = spec
        data = payload[at + 2:at + 2 + size]
        if len(data) < size:
            raise PayloadError("lpp_truncated", f"type {lpp_type} needs {size} bytes at "
                               f"byte {at + 2}, {len(data)} left")
        at += 2 + size
        name = channels.get(lpp_channel)
        if name is None or fmt is None:
            continue
        out[name] = round(struct.unpack(fmt, data)[0] * resolution, 6)
    return out


def encode_cayenne_lpp(records: list[tuple[int, int, float]]) -> bytes:
    """``[(lpp_channel, lpp_type, value)]`` as LPP bytes (the simulator's side)."""
    out = bytearray()
    for lpp_channel, lpp_type, value in records:
        size, fmt, resolution = _LPP[lpp_type]
        if fmt is None:
            raise ValueError(f"LPP type {lpp_type} is not encoded here")
        out += bytes([lpp_channel, lpp_type]) + struct.pack(fmt, round(value / resolution))
    return bytes(out)


@dataclass(frozen=True, slots=True)
class LayoutField:
    channel: str
    offset: int
    type: FieldType = "u16"
    order: Literal["big", "little"] = "big"
    scale: float = 1.0
    add: float = 0.0

    @property
    def size(self) -> int:
        return struct.calcsize(_FIELD_FORMATS[self.type])

    def format(self) -> str:
        return (">" if self.order == "big" else "<") + _FIELD_FORMATS[self.type]


@dataclass(frozen=True, slots=True)
class ByteLayout:
    fields: tuple[LayoutField, ...]

    @property
    def length(self) -> int:
        return max(f.offset + f.size for f in self.fields)

    @classmethod
    def from_toml(cls, raw: Any, key: str) -> ByteLayout:
        """From a ``[[field]]`` array; raises PayloadError("bad_layout", "<key>: ...")."""
        if not isinstance(raw, list) or not raw:
            raise PayloadError("bad_layout", f"{key}: a non-empty array of [[field]] tables")
        fields = []
        for i, f in enumerate(raw):
            where = f"{key}[{i}]"
            if not isinstance(f, Mapping) or set(f) - {"channel", "offset", "type", "order",
                                                       "scale", "add"}:
                raise PayloadError("bad_layout", f"{where}: a table of channel, offset, type, "
                                   "order, scale, add")
            channel, offset = f.get("channel"), f.get("offset")
            ftype, order = f.get("type", "u16"), f.get("order", "big")
            scale, add = f.get("scale", 1.0), f.get("add", 0.0)
            if not isinstance(channel, str) or not channel:
                raise PayloadError("bad_layout", f"{where}.channel: a channel name")
            if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < 242:
                raise PayloadError("bad_layout", f"{where}.offset: a byte offset 0..241")
            if ftype not in _FIELD_FORMATS:
                raise PayloadError("bad_layout", f"{where}.type: one of "
                                   f"{', '.join(_FIELD_FORMATS)}")
            if order not in ("big", "little"):
                raise PayloadError("bad_layout", f"{where}.order: big or little")
            for name, v in (("scale", scale), ("add", add)):
                if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                    raise PayloadError("bad_layout", f"{where}.{name}: a finite number")
            fields.append(LayoutField(channel, offset, ftype, order, float(scale), float(add)))
        return cls(tuple(fields))

    def decode(self, payload: bytes) -> dict[str, float]:
        if len(payload) < self.length:
            raise PayloadError("layout_short", f"{len(payload)} bytes, the layout needs "
                               f"{self.length}")
        out: dict[str, float] = {}
        for f in self.fields:
            raw = struct.unpack_from(f.format(), payload, f.offset)[0]
            value = raw * f.scale + f.add
            if math.isfinite(value):
                out[f.channel] = round(value, 6)
        return out

    def encode(self, values: Mapping[str, float]) -> bytes:
        out = bytearray(self.length)
        for f in self.fields:
            raw = (values.get(f.channel, 0.0) - f.add) / f.scale
            struct.pack_into(f.format(), out, f.offset, raw if f.type == "f32" else round(raw))
        return bytes(out)
