"""decode_device_message's fast paths (the hook-free parse, and the one-pass ``up`` decoder)
give exactly what the strict parse gives: the same message, or the same error reason and
detail, for clean, tricky and hostile payloads. Each runs with either hook-free parser:
orjson's (installed with the gateway group) and the standard library's scanner (a gateway
without orjson)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.firmware_bridge import device_json, device_message, json_library
from siaga.firmware_bridge.device_json import clean_json, scan_plain, strict_json
from siaga.firmware_bridge.device_message import DeviceMessage, decode_device_message
from siaga.firmware_bridge.errors import DeviceMessageError

PARSERS = ["orjson", "stdlib"]


@contextmanager
def plain_parser(name: str) -> Iterator[None]:
    """The fast paths with orjson's parse (as installed here) or the standard library's."""
    with pytest.MonkeyPatch.context() as mp:
        if name == "stdlib":
            mp.setattr(device_json, "plain_json", scan_plain)
            mp.setattr(device_message, "plain_json", scan_plain)
        yield


def test_orjson_parses_here() -> None:
    """The dev install pulls the gateway group: orjson is the parser tested first."""
    assert json_library.ORJSON and device_json.plain_json is json_library.orjson_loads

TOPICS = ["siaga/node/n-1/up", "siaga/node/n-1/hello", "siaga/node/n-1/event",
          "siaga/node/n-1/ack"]
KEYS = st.sampled_from(["seq", "v", "ts", "up", "vwc", "rain", "a:b", "fw", "ch", "int",
                        "code", "cseq", "ok", "x"])
SCALARS = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "true", "null",
                     '"vwc|rain"', '"a:b"', '"1.4.2"', "0", "1", "65536", "-3", "31.5",
                     "1795000000000", "2.5e3", '"\\u00e9"', '"x\\":1"']),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


def objects(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """JSON objects as text, keys possibly repeated."""
    pairs = st.lists(st.tuples(KEYS, values), max_size=5)
    return pairs.map(lambda ps: "{" + ",".join(f'"{k}":{v}' for k, v in ps) + "}")


VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(objects(inner), st.lists(inner, max_size=3).map(
        lambda xs: "[" + ",".join(xs) + "]")),
    max_leaves=12,
)
SPACE = st.sampled_from(["", " ", "\n"])


def outcome(topic: str, payload: bytes) -> DeviceMessage | tuple[str, str]:
    try:
        return decode_device_message(topic, payload)
    except DeviceMessageError as e:
        return (e.reason, e.detail)


def strict_outcome(topic: str, payload: bytes) -> DeviceMessage | tuple[str, str]:
    """Both fast paths off: the hooked parse and the general builders decide."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(device_message, "clean_json", lambda payload: None)
        mp.setattr(device_message, "_clean_up", lambda node, payload: None)
        return outcome(topic, payload)


def up_outcome(payload: bytes) -> DeviceMessage | tuple[str, str]:
    """Only the ``up`` fast path off: the hook-free parse and ``_up`` decide."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(device_message, "_clean_up", lambda node, payload: None)
        return outcome(TOPICS[0], payload)


@pytest.mark.parametrize("parser", PARSERS)
@given(st.sampled_from(TOPICS), objects(VALUES), SPACE, SPACE)
def test_fast_path_equals_strict_parse(parser: str, topic: str, body: str, before: str,
                                       after: str) -> None:
    payload = (before + body + after).encode()
    with plain_parser(parser):
        assert outcome(topic, payload) == strict_outcome(topic, payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"seq":1,"v":{"vwc":31.5,"temp":20.25}}',
        b'{"seq":1,"v":{"vwc":31.5,"vwc":2}}',
        b'{"seq":1,"v":{"vwc":1},"x":{"y":NaN}}',
        b'{"seq":1,"v":{"vwc":1},"x":[1e400]}',
        b'{"seq":1,"v":{"vwc":1},"x":"a:b","seq":2}',
        b'{"seq":1,"v":{"vwc":1,"a:b":2}}',
        b'{"seq":true,"v":{"vwc":1}}',
        b'{"seq":65536,"v":{"vwc":1}}',
        b'{"seq":1,"v":{"Vwc":1}}',
        b'{"seq":1,"v":{"vwc":false}}',
        b'{"seq":1,"v":{"vwc":1}} x',
        b'[' * 2000 + b']' * 2000,
        b'{"seq":1,"v":{"vwc":1},"x":' + b'[' * 1500 + b']' * 1500 + b'}',
        # the edges of the up fast path, one field at a time
        b'{"seq":1,"v":{"vwc":1},"ts":-1}',
        b'{"seq":1,"v":{"vwc":1},"ts":9007199254740992}',
        b'{"seq":1,"v":{"vwc":1},"ts":9007199254740993}',
        b'{"seq":1,"v":{"vwc":1},"ts":1.5}',
        b'{"seq":1,"v":{"vwc":1},"ts":null}',
        b'{"seq":1,"v":{"vwc":1},"up":-9007199254740993}',
        b'{"seq":1,"v":{"vwc":1},"up":-9007199254740992}',
        b'{"seq":1,"v":{"vwc":1},"up":1.0}',
        b'{"seq":1,"v":{"vwc":9007199254740993}}',
        b'{"seq":1,"v":{"vwc":-9007199254740992}}',
        b'{"seq":1,"v":{"vwc":1,"up":2}}',
        b'{"seq":1,"v":{}}',
        b'{"seq":1,"v":{"vwc":NaN}}',
        b'{"seq":1,"v":{"vwc":1},"x":-Infinity}',
        b'{"seq":1,"v":{"vwc":1},"x":[]}',
        b'{"seq":1,"v":{"vwc":1},"x":{}}',
        b'{"seq":-1,"v":{"vwc":1}}',
        b'{"seq":1,"v":{"vwc_17_characters":1}}',
        b'{"seq":1,"v":[1]}',
        # where orjson and the standard library part ways (json_library.py)
        b'{"seq":1,"v":{"vwc":18446744073709551616}}',  # orjson: a float
        b'{"seq":1,"v":{"vwc":-9223372036854775809}}',
        b'{"seq":1,"v":{"vwc":18446744073709551615}}',  # still an int for both
        b'{"seq":1,"v":{"vwc":1},"ts":99999999999999999999}',
        b'{"seq":1,"v":{"vwc":1},"x":123456789012345678901234567890}',
        b'{"seq":1,"v":{"vwc":9.3e18}}',
        b'{"seq":1,"v":{"vwc":-9223372036854775808.0}}',
        b'{"seq":1,"v":{"vwc":1e-400,"temp":-1e-400}}',
        b'{"seq":1,"v":{"vwc":-0.0,"temp":-0}}',
        b'{"seq":1,"v":{"vwc":1},"fw":"\\ud800"}',  # a lone surrogate, escaped
        b'{"seq":1,"v":{"vwc":1},"fw":"\xed\xa0\x80"}',  # and as (invalid) UTF-8
        b'{"seq":1,"v":{"vwc":1},"fw":"\xff"}',
        b'\xef\xbb\xbf{"seq":1,"v":{"vwc":1}}',  # a BOM
        b'{"seq":1,"v":{"vwc":1},"fw":"a\nb"}',  # a raw control character in a string
        b'{"seq":1,"v":{"vwc":1},"fw":"\\u0000"}',
        b'{"seq":1,"v":{"vwc":1},"x":' + b'[' * 1023 + b']' * 1023 + b'}',
        b'{"seq":1,"v":{"vwc":1},"x":' + b'[' * 1025 + b']' * 1025 + b'}',
        b'{"seq":1 , "v" : {"vwc" : 1} }',
        b' \t\r\n{"seq":1,"v":{"vwc":1}}\n',
        b'{"seq":1,"v":{"vwc":1}}\x00',
        b'{"seq":1,"v":{"vwc":1.0e+2,"temp":1E-2}}',
        b'{"seq":01,"v":{"vwc":1}}',
        b'{"seq":1,"v":{"vwc":.5}}',
        b'{"seq":1,"v":{"vwc":1},}',
        b'{"seq":1,"v":{"vwc":1}',
        b'',
    ],
)
@pytest.mark.parametrize("parser", PARSERS)
def test_fast_path_on_tricky_payloads(payload: bytes, parser: str) -> None:
    with plain_parser(parser):
        assert outcome(TOPICS[0], payload) == strict_outcome(TOPICS[0], payload)


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(("topic", "payload"), [  # integers orjson reads as floats
    (TOPICS[1], b'{"seq":1,"fw":"1.0","ch":"vwc","int":18446744073709551616}'),
    (TOPICS[2], b'{"seq":99999999999999999999,"code":"boot"}'),
    (TOPICS[3], b'{"cseq":-9223372036854775809,"ok":1}'),
    (TOPICS[3], b'{"cseq":1,"ok":1,"x":[[{"y":-99999999999999999999}]]}'),
])
def test_big_integers_in_other_kinds(topic: str, payload: bytes, parser: str) -> None:
    with plain_parser(parser):
        assert outcome(topic, payload) == strict_outcome(topic, payload)


def test_fast_up_message_equals_the_constructed_one() -> None:
    payload = json.dumps({"seq": 7, "v": {"vwc": 31.5, "rain": 3}, "ts": 17, "up": 5}).encode()
    message = decode_device_message(TOPICS[0], payload)
    assert message == DeviceMessage("up", "n-1", 7, values={"vwc": 31.5, "rain": 3}, ts_ms=17,
                                    uptime_ms=5)
    assert repr(message) == repr(strict_outcome(TOPICS[0], payload))


# Up messages as nodes send them, and near misses: every field's type and range edges,
# repeated keys, ':' inside strings, non-finite numbers, containers where scalars go.
BIG = [str(2**53 + 1), str(-(2**53) - 1)]
NEAR = {  # per field, the values just outside what it takes
    "seq": ["-1", "65536", "true", "null", "1.0", '"7"', "NaN", "[]"],
    "value": ["NaN", "Infinity", "-Infinity", "1e400", "true", "null", '"7"', "[]", "{}", *BIG],
    "ts": ["-1", "1.5", "true", "null", '"7"', "NaN", "1e400", "[]", *BIG],
    "up": ["1.5", "true", "null", "NaN", "{}", *BIG],
    "x": ["NaN", "1e400", "[NaN]", '{"a":1}', "[]", "{}", '"a:b"', "null"],
    "key": ["up", "Vwc", "a:b", "", "v", "x" * 17],
}


@st.composite
def up_payloads(draw: st.DrawFn) -> str:
    """A valid up message, or one with a single near miss."""
    fields = {"seq": str(draw(st.integers(0, 65535)))}
    values = [(draw(st.sampled_from(["vwc", "temp", "rain", "smoke", "x_1"])),
               draw(st.one_of(st.floats(allow_nan=False, allow_infinity=False).map(repr),
                              st.integers(-(2**53), 2**53).map(str))))
              for _ in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        fields["ts"] = str(draw(st.integers(0, 2**53)))
    if draw(st.booleans()):
        fields["up"] = str(draw(st.integers(-(2**53), 2**53)))
    if draw(st.booleans()):
        fields["fw"] = '"1.2"'
    pairs = list(fields.items())
    miss = draw(st.sampled_from(["none", "none", "seq", "value", "key", "ts", "up", "x",
                                 "repeat", "empty"]))
    if miss in ("seq", "ts", "up", "x"):
        pairs = [p for p in pairs if p[0] != miss] + [(miss, draw(st.sampled_from(NEAR[miss])))]
    elif miss == "value":
        values[0] = (values[0][0], draw(st.sampled_from(NEAR["value"])))
    elif miss == "key":
        values.append((draw(st.sampled_from([*NEAR["key"], values[0][0]])), "1"))
    elif miss == "repeat":
        pairs.append(draw(st.sampled_from(pairs)))
    elif miss == "empty":
        values = []
    pairs.append(("v", "{" + ",".join(f'"{k}":{v}' for k, v in values) + "}"))
    order = draw(st.permutations(pairs))
    return "{" + ",".join(f'"{k}":{v}' for k, v in order) + "}"


@pytest.mark.parametrize("parser", PARSERS)
@settings(max_examples=400)
@given(up_payloads(), SPACE)
def test_up_fast_path_equals_both_other_paths(parser: str, body: str, space: str) -> None:
    payload = (body + space).encode()
    with plain_parser(parser):
        got = outcome(TOPICS[0], payload)
        assert got == strict_outcome(TOPICS[0], payload)
        assert got == up_outcome(payload)
    if isinstance(got, DeviceMessage):
        assert repr(got) == repr(strict_outcome(TOPICS[0], payload))


# Hostile text: pieces of JSON and of what breaks parsers (big integers, surrogates as
# escapes and as bytes, invalid UTF-8, a BOM, control characters, repeated keys).
PIECES = [b"{", b"}", b"[", b"]", b'"', b":", b",", b"1", b"0", b"-", b".", b"e", b"E", b"+",
          b" ", b"\n", b"\t", b"\\", b"u", b"true", b"null", b"NaN", b"Infinity", b"\x00",
          b"\x1f", b"\x7f", b"\xc3\xa9", b"\xed\xa0\x80", b"\xff", b"\xc0\xaf",
          b"\xef\xbb\xbf", b"\\ud800", b"\\udc00", b"\\n", b"\xe2\x80\xa8", b'"seq":',
          b'"v":', b'"vwc":', b'"ts":', b'"up":', b'"seq":1,', b"18446744073709551616",
          b"-9223372036854775809", b"99999999999999999999999", b"1e400", b"1e-400", b"9.3e18"]
HOSTILE = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=24).map(b"".join),
    st.binary(max_size=64),
    st.builds(lambda head, tail: b'{"seq":1,"v":{"vwc":' + head + b"}" + tail,
              st.lists(st.sampled_from(PIECES), max_size=6).map(b"".join),
              st.lists(st.sampled_from(PIECES), max_size=6).map(b"".join)),
)


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types throughout (1 is not 1.0) and the same sign of zero."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(map(same, a, b))
    return bool(a == b)


@pytest.mark.parametrize("parser", PARSERS)
@settings(max_examples=600)
@given(HOSTILE, st.sampled_from(TOPICS))
def test_hostile_payloads_get_what_the_strict_parse_gives(parser: str, payload: bytes,
                                                          topic: str) -> None:
    with plain_parser(parser):
        body = clean_json(payload)
        got = outcome(topic, payload)
    if body is not None:  # the hook-free parse took it: its value is the strict parse's
        assert same(body, strict_json(payload, topic))
    assert got == strict_outcome(topic, payload)
    if isinstance(got, DeviceMessage):
        assert repr(got) == repr(strict_outcome(topic, payload))


def test_the_up_fast_path_takes_the_usual_message() -> None:
    payload = b'{"seq":12,"ts":1795000000123,"up":5,"v":{"vwc":30.25,"temp":25}}'
    assert device_message._clean_up("n-1", payload) == DeviceMessage(
        "up", "n-1", 12, values={"vwc": 30.25, "temp": 25}, ts_ms=1795000000123, uptime_ms=5)
