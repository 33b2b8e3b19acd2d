"""Serial frame codec (PROTOCOL.md): Frame <-> one ASCII line ``$SG,...*CRC\\r\\n``.

Pure functions, no I/O. ``decode_frame`` takes one line, ``encode_frame`` makes one;
``frame_stream.FrameDecoder`` cuts a byte stream into lines and calls ``decode_frame``.

Decoding has fast paths for valid lines (one regex over the whole line, then
``binascii.crc_hqx``; D frames of plain decimals need no per-value regex, other
frames one ``findall`` over the fields). Any line a fast path does not accept
goes through ``_parse_strict``, which checks in the documented order and
raises with the first reason that applies, so the reason for a bad line never
depends on which path saw it. The order (the C codec follows it too):

    too_long, bad_prefix ('$'), non_ascii / control_char, bad_crc, crc_mismatch,
    bad_prefix ("SG"), bad_type, bad_node, bad_seq,
    per field left to right: bad_field, bad_key, duplicate_key, bad_value,
    then the frame type's rules: missing_field / bad_value.
"""

from __future__ import annotations

import math
import re
from binascii import crc_hqx
from dataclasses import dataclass

from siaga.firmware_bridge.errors import FrameDecodeError, FrameEncodeError
from siaga.firmware_bridge.frame_rules import (
    FRAME_ERROR_REASONS,
    FRAME_TYPES,
    KEY,
    MAX_FRAME_BYTES,
    MAX_SEQ,
    NODE,
    RULES,
    SEQ,
    UPTIME_KEY,
    FieldValue,
    value_from_text,
)

__all__ = [
    "FRAME_ERROR_REASONS", "FRAME_TYPES", "MAX_FRAME_BYTES", "MAX_SEQ", "UPTIME_KEY",
    "FieldValue", "Frame", "crc16", "decode_frame", "encode_frame",
]

_HEX4 = re.compile(rb"[0-9A-F]{4}")
_NOT_PRINTABLE = re.compile(rb"[^\x20-\x7e]")
_LINE = re.compile(
    r"\$SG,([DHECA]),([A-Za-z0-9_-]{1,16}),([0-9]{1,5})((?:,[^,*]*)*)\*([0-9A-F]{4})\r?\n?"
)
# A data frame of plain decimal numbers (no exponent, no leading zeros): the common case.
# Possessive quantifiers: what each part may match never overlaps what follows it, so
# giving characters back could never find another match; not trying is 25% faster.
_D_LINE = re.compile(
    r"\$SG,D,([A-Za-z0-9_-]{1,16}+),([0-9]{1,5}+)"
    r"((?:,[a-z][a-z0-9_]{0,15}+=-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+)++)\*([0-9A-F]{4})\r?\n?"
)
# One match per valid field; the group that matched says how the value decodes.
_FIELD = re.compile(
    r",([a-z][a-z0-9_]{0,15})=(?:(-?[0-9]+)|(-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    r"|([A-Za-z0-9.|_-]{1,32}))(?=[,*])"
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame. ``fields`` keeps the wire order; numbers without fraction or
    exponent are ``int``, other numbers ``float``, everything else a ``str`` token."""

    type: str
    node: str
    seq: int
    fields: dict[str, FieldValue]


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    return crc_hqx(data, 0xFFFF)


# ---------------------------------------------------------------- decode


def decode_frame(line: bytes) -> Frame:
    """Decode one line: ``$`` to ``*CRC``, then CR LF, LF, CR (LF split off) or nothing.

    Raises FrameDecodeError. Without its LF a line is held to the limit it would
    have with one (a bare LF: 249 bytes before it).
    """
    n = len(line)
    if n >= MAX_FRAME_BYTES and (n > MAX_FRAME_BYTES or not line.endswith(b"\n")):
        raise FrameDecodeError("too_long", f"{n} bytes, over {MAX_FRAME_BYTES}", line)
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        return _parse_strict(line)
    m = _D_LINE.fullmatch(text)
    if m is not None:
        # Data frames are nearly all the traffic: their regex admits only plain
        # decimal numbers, so each value is a float when it has a '.', else an int.
        node, seq_text, group, crc_text = m.groups()
        seq = int(seq_text)
        if seq <= MAX_SEQ and crc_hqx(line[1 : m.end(3)], 0xFFFF) == int(crc_text, 16):
            pairs = group[1:].split(",")
            fields: dict[str, FieldValue] = {}
            for pair in pairs:
                key, _, value = pair.partition("=")
                fields[key] = float(value) if "." in value else int(value)
            if len(fields) == len(pairs) and (len(pairs) > 1 or UPTIME_KEY not in fields):
                # _new_frame inlined: this is the one path hot enough for it to count.
                frame = _object_new(Frame)
                _set_type(frame, "D")
                _set_node(frame, node)
                _set_seq(frame, seq)
                _set_fields(frame, fields)
                return frame
        return _parse_strict(line)
    m = _LINE.fullmatch(text)
    if m is None:
        return _parse_strict(line)
    star = m.start(5) - 1
    if crc_hqx(line[1:star], 0xFFFF) != int(m.group(5), 16):
        return _parse_strict(line)
    found = _FIELD.findall(text, m.start(4), star + 1)
    if len(found) != text.count(",", m.start(4), star):
        return _parse_strict(line)
    fields = {}
    for key, int_text, float_text, token in found:
        if int_text:
            fields[key] = int(int_text)
        elif float_text:
            number = float(float_text)
            if number in _INFINITIES:
                return _parse_strict(line)
            fields[key] = number
        else:
            fields[key] = token
    seq = int(m.group(3))
    if len(fields) != len(found) or seq > MAX_SEQ:
        return _parse_strict(line)
    frame_type = m.group(1)
    problem = RULES[frame_type](fields)
    if problem is not None:
        raise FrameDecodeError(problem[0], problem[1], line)
    return _new_frame(frame_type, m.group(2), seq, fields)


def _new_frame(frame_type: str, node: str, seq: int, fields: dict[str, FieldValue]) -> Frame:
    # Same result as Frame(...), in half the time: a frozen dataclass's __init__
    # goes through object.__setattr__ by name, the slot descriptors do not.
    frame = _object_new(Frame)
    _set_type(frame, frame_type)
    _set_node(frame, node)
    _set_seq(frame, seq)
    _set_fields(frame, fields)
    return frame


_object_new = object.__new__
_set_type = vars(Frame)["type"].__set__
_set_node = vars(Frame)["node"].__set__
_set_seq = vars(Frame)["seq"].__set__
_set_fields = vars(Frame)["fields"].__set__
_INFINITIES = (math.inf, -math.inf)


def _parse_strict(line: bytes) -> Frame:
    """Check everything in the documented order; the reference for the fast path."""

    def fail(reason: str, detail: str) -> FrameDecodeError:
        return FrameDecodeError(reason, detail, line)

    if line.endswith(b"\r\n"):
        content, limit = line[:-2], MAX_FRAME_BYTES - 2
    elif line.endswith(b"\n"):
        content, limit = line[:-1], MAX_FRAME_BYTES - 1
    elif line.endswith(b"\r"):  # a CR LF line whose LF a caller already split off
        content, limit = line[:-1], MAX_FRAME_BYTES - 2
    else:
        content, limit = line, MAX_FRAME_BYTES - 1
    if len(content) > limit:
        raise fail("too_long", f"{len(line)} bytes, over {MAX_FRAME_BYTES}")
    if not content.startswith(b"$"):
        raise fail("bad_prefix", "a frame starts with '$'")
    bad = _NOT_PRINTABLE.search(content)
    if bad is not None:
        byte = content[bad.start()]
        reason = "non_ascii" if byte >= 0x80 else "control_char"
        raise fail(reason, f"byte 0x{byte:02X} at offset {bad.start()}")
    if len(content) < 6 or content[-5] != 0x2A or not _HEX4.fullmatch(content[-4:]):
        raise fail("bad_crc", "a frame ends with '*' and 4 upper-case hex digits")
    body = content[1:-5]
    want, got = int(content[-4:], 16), crc16(body)
    if want != got:
        raise fail("crc_mismatch", f"frame says {want:04X}, body gives {got:04X}")
    parts = body.decode("ascii").split(",")
    if parts[0] != "SG":
        raise fail("bad_prefix", "body starts with 'SG,'")
    if len(parts) < 2 or parts[1] not in FRAME_TYPES:
        raise fail("bad_type", f"type {parts[1] if len(parts) > 1 else ''!r} not one of DHECA")
    if len(parts) < 3 or not NODE.fullmatch(parts[2]):
        raise fail("bad_node", "node id is 1-16 of A-Z a-z 0-9 - _")
    if len(parts) < 4 or not SEQ.fullmatch(parts[3]) or int(parts[3]) > MAX_SEQ:
        raise fail("bad_seq", "seq is 0..65535 in at most 5 digits")
    fields: dict[str, FieldValue] = {}
    for index, part in enumerate(parts[4:], start=1):
        key, eq, text = part.partition("=")
        if not eq:
            raise fail("bad_field", f"field {index} {part!r} is not key=value")
        if not KEY.fullmatch(key):
            raise fail("bad_key", f"key {key!r}: a-z then up to 15 of a-z 0-9 _")
        if key in fields:
            raise fail("duplicate_key", f"key {key!r} appears twice")
        value = value_from_text(text)
        if value is None:
            raise fail("bad_value", f"{key}={text!r} is neither a number nor a token")
        fields[key] = value
    problem = RULES[parts[1]](fields)
    if problem is not None:
        raise fail(*problem)
    return Frame(parts[1], parts[2], int(parts[3]), fields)


# ---------------------------------------------------------------- encode


def encode_frame(frame: Frame) -> bytes:
    """The frame as one wire line ending in CR LF. Raises FrameEncodeError."""
    if not isinstance(frame.type, str) or frame.type not in FRAME_TYPES:
        raise FrameEncodeError("bad_type", f"type {frame.type!r} not one of DHECA")
    if not isinstance(frame.node, str) or not NODE.fullmatch(frame.node):
        raise FrameEncodeError("bad_node", f"node {frame.node!r}: 1-16 of A-Z a-z 0-9 - _")
    seq = frame.seq
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise FrameEncodeError("bad_seq", f"seq {seq!r} not an int 0..65535")
    parts = ["SG", frame.type, frame.node, str(int(seq))]
    decoded: dict[str, FieldValue] = {}
    for key, value in frame.fields.items():
        if not isinstance(key, str) or not KEY.fullmatch(key):
            raise FrameEncodeError("bad_key", f"key {key!r}: a-z then up to 15 of a-z 0-9 _")
        text = _value_text(key, value)
        parsed = value_from_text(text)
        if parsed is None:
            raise FrameEncodeError("bad_value", f"{key}={value!r} is neither number nor token")
        decoded[key] = parsed
        parts.append(f"{key}={text}")
    problem = RULES[frame.type](decoded)
    if problem is not None:
        raise FrameEncodeError(*problem)
    body = ",".join(parts).encode("ascii")
    line = b"$%s*%04X\r\n" % (body, crc_hqx(body, 0xFFFF))
    if len(line) > MAX_FRAME_BYTES:
        raise FrameEncodeError("too_long", f"{len(line)} bytes, over {MAX_FRAME_BYTES}")
    return line


def _value_text(key: str, value: object) -> str:
    if isinstance(value, bool):
        raise FrameEncodeError("bad_value", f"{key}={value!r}: use 0 or 1, not a bool")
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FrameEncodeError("bad_value", f"{key}={value!r}: not a finite number")
        # repr is the shortest text that reads back as the same float, and always
        # matches the number grammar (e.g. 31.5, 1e+16, 1.5e-07).
        return float.__repr__(value)
    if isinstance(value, str):
        return value
    raise FrameEncodeError("bad_value", f"{key}={value!r}: not a number or str")
