"""The JSON rules of MQTT device messages (docs/protocol.md), for
``device_message.decode_device_message``: the strict parse (no NaN or Infinity, no
number that overflows, no key given twice), the hook-free parse that provably equals it
(orjson's where installed, json_library.py), and the field checks the per-kind builders use.

A check that fails raises ``Reject`` with a stable reason; the decoder turns it into
``DeviceMessageError`` with the topic (firmware_bridge/errors.py), so ``Reject`` never
leaves the decoder.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from siaga.firmware_bridge.codec import MAX_SEQ
from siaga.firmware_bridge.errors import DeviceMessageError
from siaga.firmware_bridge.json_library import INT64_FLOAT_LIMIT, orjson_loads

CHANNEL_KEY = re.compile(r"[a-z][a-z0-9_]{0,15}")
_TOKEN = re.compile(r"[A-Za-z0-9.|_-]{1,32}")

# The C scanner behind json.loads, without its Python wrapper: one call per payload.
scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def scan_plain(payload: bytes) -> Any:
    """The payload parsed without hooks by the standard library's scanner; ValueError or
    RecursionError when it is not one UTF-8 JSON value (surrounding whitespace included:
    the strict parse takes that)."""
    text = payload.decode("utf-8")
    try:
        body, end = scan_json(text, 0)
    except StopIteration:
        raise ValueError("no JSON value at the start") from None
    if end != len(text):
        raise ValueError("text after the JSON value")
    return body


# The hook-free parse of the fast paths: orjson's takes 0.5 us for the kit's flood message,
# the scanner's 1.5 us (same machine and minute; issue 17). Either raises ValueError or
# RecursionError for what it refuses, and the strict parse then decides. Its value equals
# the strict parse's when every float in it is in (-2**63, 2**63): that excludes NaN and
# infinity, and the floats orjson makes of integers beyond 64 bits (the fast paths test
# this inline, ``-INT64_FLOAT_LIMIT < x < INT64_FLOAT_LIMIT``, and leave the rest to the
# strict parse).
plain_json: Callable[[bytes], Any] = orjson_loads or scan_plain


class Reject(Exception):
    """A field or payload the rules refuse, with its reason (the decoder's only)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _reject_constant(name: str) -> Any:
    raise Reject("nan_or_infinity", f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise Reject("nan_or_infinity", f"{text} overflows to infinity")
    return number


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body = dict(pairs)
    if len(body) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise Reject("duplicate_key", f"key {key!r} appears twice")
            seen.add(key)
    return body


def clean_json(payload: bytes) -> Any:
    """The payload parsed without hooks when that provably equals ``strict_json``'s
    result, else None (then only the strict parse can say what is wrong, if anything).

    The hooks reject three things a plain parse lets through: NaN/Infinity constants
    and overflowing numbers (both become non-finite floats, found by the walk, or orjson
    refuses them) and repeated keys. Every ':' outside a string separates one key-value
    pair, so when the parsed objects hold as many keys as the text holds ':', no key was
    repeated (and no ':' sat inside a string; a ':' byte is never part of a longer UTF-8
    character). A float that may be orjson's form of a big integer also says None."""
    try:
        body = plain_json(payload)
    except (ValueError, RecursionError):
        return None
    if type(body) is dict and _pairs_if_plain(body, _MAX_PLAIN_DEPTH) == payload.count(b":"):
        return body
    return None


# Deeper nesting is left to the strict parse, whose refusal (not_json at the recursion
# limit) the walk must not pre-empt: orjson reads 1,024 levels, more than the walk can.
_MAX_PLAIN_DEPTH = 32


def _pairs_if_plain(container: dict[str, Any] | list[Any], depth: int) -> int:
    """Key-value pairs in all objects within ``container``; -1 if it holds a float outside
    (-2**63, 2**63), or containers nested more than ``depth`` levels below it."""
    if type(container) is dict:
        pairs = len(container)
        values: Any = container.values()
    else:
        pairs, values = 0, container
    for value in values:
        kind = type(value)
        if kind is float:
            if not -INT64_FLOAT_LIMIT < value < INT64_FLOAT_LIMIT:
                return -1
        elif kind is dict or kind is list:
            if not depth:
                return -1
            inner = _pairs_if_plain(value, depth - 1)
            if inner < 0:
                return -1
            pairs += inner
    return pairs


def strict_json(payload: bytes, topic: str) -> Any:
    """The payload parsed with every rule as a hook; raises DeviceMessageError."""
    try:
        return json.loads(
            payload.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_object_without_duplicates,
        )
    except Reject as e:
        raise DeviceMessageError(e.reason, str(e), topic) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise DeviceMessageError("not_json", f"payload is not UTF-8 JSON: {e}", topic) from None


def required(body: dict[str, Any], key: str) -> Any:
    if key not in body:
        raise Reject("missing_field", f"{key!r} is required")
    return body[key]


def as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Reject("wrong_type", f"{name} must be an integer, got {json_type(value)}")
    return exact(value, name)


def as_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Reject("wrong_type", f"{name} must be a number, got {json_type(value)}")
    return exact(value, name) if type(value) is int else value


# JSON integers are unbounded in Python; a float holds every integer up to 2**53 exactly,
# and no count, time or reading needs more (a 400-digit one would overflow float()).
MAX_EXACT_INT = 2**53


def exact(value: int, name: str) -> int:
    if -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
        return value
    raise Reject("bad_value", f"{name}: a {len(str(abs(value)))}-digit integer is beyond "
                               f"+-2**53")


def token(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise Reject("wrong_type", f"{name} must be a string, got {json_type(value)}")
    if not _TOKEN.fullmatch(value):
        raise Reject("bad_value", f"{name} {value!r}: 1-32 of A-Z a-z 0-9 . - _ |")
    return value


def channel_key(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise Reject("wrong_type", f"{name} must be a string, got {json_type(value)}")
    if not CHANNEL_KEY.fullmatch(value):
        raise Reject("bad_key", f"{name} {value!r}: a-z then up to 15 of a-z 0-9 _")
    return value


def as_seq(value: Any) -> int:
    seq = as_int(value, "seq")
    if not 0 <= seq <= MAX_SEQ:
        raise Reject("bad_seq", f"seq {seq} not in 0..65535")
    return seq


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


