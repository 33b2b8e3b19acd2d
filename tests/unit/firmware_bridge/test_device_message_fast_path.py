"""decode_device_message's hook-free fast path gives exactly what the strict parse gives:
the same message, or the same error reason and detail, for clean and tricky payloads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.firmware_bridge import device_message
from siaga.firmware_bridge.device_message import DeviceMessage, decode_device_message
from siaga.firmware_bridge.errors import DeviceMessageError

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
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(device_message, "_clean_json", lambda payload: None)
        return outcome(topic, payload)


@given(st.sampled_from(TOPICS), objects(VALUES), SPACE, SPACE)
def test_fast_path_equals_strict_parse(topic: str, body: str, before: str, after: str) -> None:
    payload = (before + body + after).encode()
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
    ],
)
def test_fast_path_on_tricky_payloads(payload: bytes) -> None:
    assert outcome(TOPICS[0], payload) == strict_outcome(TOPICS[0], payload)


def test_fast_up_message_equals_the_constructed_one() -> None:
    payload = json.dumps({"seq": 7, "v": {"vwc": 31.5, "rain": 3}, "ts": 17, "up": 5}).encode()
    message = decode_device_message(TOPICS[0], payload)
    assert message == DeviceMessage("up", "n-1", 7, values={"vwc": 31.5, "rain": 3}, ts_ms=17,
                                    uptime_ms=5)
    assert repr(message) == repr(strict_outcome(TOPICS[0], payload))
