"""MQTT device messages: validation reasons, round trips, and the serial Frame bridge."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.firmware_bridge.codec import Frame, decode_frame, encode_frame
from siaga.firmware_bridge.device_message import (
    DEVICE_SUBSCRIPTIONS,
    DeviceMessage,
    decode_device_message,
    device_topic,
    encode_device_message,
    parse_device_topic,
)
from siaga.firmware_bridge.errors import DeviceMessageError, FrameEncodeError

UP = "siaga/node/slope-07/up"


def test_up_message() -> None:
    payload = b'{"seq": 5, "v": {"vwc": 31.5, "rain": 1042}, "ts": 1795000000123}'
    msg = decode_device_message(UP, payload)
    assert msg == DeviceMessage("up", "slope-07", 5, values={"vwc": 31.5, "rain": 1042},
                                ts_ms=1795000000123)
    assert type(msg.values["rain"]) is int


def test_hello_accepts_channel_list_or_pipe_string() -> None:
    topic = "siaga/node/n1/hello"
    a = decode_device_message(topic, b'{"seq":0,"fw":"1.4.2","ch":["vwc","rain"],"int":60}')
    b = decode_device_message(topic, b'{"seq":0,"fw":"1.4.2","ch":"vwc|rain","int":60}')
    assert a == b
    assert a.channels == ("vwc", "rain") and a.interval_s == 60 and a.fw == "1.4.2"


def test_event_cmd_and_ack() -> None:
    payload = b'{"seq":3,"code":"sensor_fault","ch":"smoke"}'
    event = decode_device_message("siaga/node/n1/event", payload)
    assert (event.kind, event.code, event.channel) == ("event", "sensor_fault", "smoke")
    cmd = decode_device_message("siaga/node/n1/cmd", b'{"seq":12,"cmd":"interval","v":30}')
    assert (cmd.kind, cmd.seq, cmd.cmd, cmd.cmd_value) == ("cmd", 12, "interval", 30)
    ack = decode_device_message("siaga/node/n1/ack", b'{"cseq":12,"ok":1}')
    assert (ack.kind, ack.seq, ack.cseq, ack.ok) == ("ack", None, 12, True)
    assert decode_device_message("siaga/node/n1/ack", b'{"cseq":12,"ok":false}').ok is False


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "detail_part"),
    [
        ("siaga/node/n1/down", b"{}", "bad_topic", "expected"),
        ("siaga/node/n1/up/extra", b"{}", "bad_topic", "expected"),
        ("other/node/n1/up", b"{}", "bad_topic", "expected"),
        ("siaga/node/bad.id/up", b"{}", "bad_node_id", "bad.id"),
        ("siaga/node/" + "a" * 17 + "/up", b"{}", "bad_node_id", "1-16"),
        ("siaga/node//up", b"{}", "bad_node_id", "node id"),
        (UP, b"x" * 4097, "oversized", "4097"),
        (UP, b"{seq: 1}", "not_json", "JSON"),
        (UP, b"\xff\xfe", "not_json", "UTF-8"),
        (UP, b"", "not_json", "JSON"),
        (UP, b"[1, 2]", "not_object", "array"),
        (UP, b'"text"', "not_object", "string"),
        (UP, b'{"seq": 1, "v": {"vwc": NaN}}', "nan_or_infinity", "NaN"),
        (UP, b'{"seq": 1, "v": {"vwc": -Infinity}}', "nan_or_infinity", "Infinity"),
        (UP, b'{"seq": 1, "v": {"vwc": 1e999}}', "nan_or_infinity", "1e999"),
        (UP, b'{"seq": 1, "seq": 2, "v": {"vwc": 1}}', "duplicate_key", "seq"),
        (UP, b'{"v": {"vwc": 1}}', "missing_field", "seq"),
        (UP, b'{"seq": 1}', "missing_field", "'v'"),
        (UP, b'{"seq": 1, "v": {}}', "missing_field", "no channel"),
        (UP, b'{"seq": "1", "v": {"vwc": 1}}', "wrong_type", "seq"),
        (UP, b'{"seq": 1.5, "v": {"vwc": 1}}', "wrong_type", "seq"),
        (UP, b'{"seq": true, "v": {"vwc": 1}}', "wrong_type", "boolean"),
        (UP, b'{"seq": 65536, "v": {"vwc": 1}}', "bad_seq", "65536"),
        (UP, b'{"seq": -1, "v": {"vwc": 1}}', "bad_seq", "-1"),
        (UP, b'{"seq": 1, "v": [1]}', "wrong_type", "v must be an object"),
        (UP, b'{"seq": 1, "v": {"vwc": "31.5"}}', "wrong_type", "v.vwc"),
        (UP, b'{"seq": 1, "v": {"vwc": null}}', "wrong_type", "null"),
        (UP, b'{"seq": 1, "v": {"vwc": true}}', "wrong_type", "v.vwc"),
        (UP, b'{"seq": 1, "v": {"VWC": 1}}', "bad_key", "VWC"),
        (UP, b'{"seq": 1, "v": {"up": 1}}', "bad_key", "uptime"),
        (UP, b'{"seq": 1, "v": {"vwc": 1}, "ts": "now"}', "wrong_type", "ts"),
        (UP, b'{"seq": 1, "v": {"vwc": 1}, "ts": -5}', "bad_value", "ts"),
        # issue 12 case 10: a 400-digit integer used to pass, then overflow float() in the
        # converter (internal_error)
        (UP, b'{"seq": 1, "v": {"vwc": 1' + b"0" * 399 + b'}}', "bad_value", "v.vwc: a 400"),
        (UP, b'{"seq": 1, "v": {"rain": -9' + b"9" * 399 + b'}}', "bad_value", "v.rain"),
        (UP, b'{"seq": 1, "v": {"vwc": 1}, "ts": 1' + b"0" * 399 + b'}', "bad_value", "ts"),
        (UP, b'{"seq": 1, "v": {"vwc": 1}, "up": 1' + b"0" * 399 + b'}', "bad_value", "up"),
        ("siaga/node/n/hello", b'{"seq":0,"fw":"1.0","ch":[],"int":60}', "wrong_type", "ch"),
        ("siaga/node/n/hello", b'{"seq":0,"fw":"1.0","ch":["Bad"],"int":60}', "bad_key", "ch"),
        ("siaga/node/n/hello", b'{"seq":0,"fw":"1.0","ch":"vwc","int":0}', "bad_value", "int"),
        ("siaga/node/n/hello", b'{"seq":0,"fw":"1.0","ch":"vwc","int":60.0}', "wrong_type", "int"),
        ("siaga/node/n/hello", b'{"seq":0,"fw":"1 0","ch":"vwc","int":60}', "bad_value", "fw"),
        ("siaga/node/n/hello", b'{"seq":0,"fw":1,"ch":"vwc","int":60}', "wrong_type", "fw"),
        ("siaga/node/n/event", b'{"seq":0}', "missing_field", "code"),
        ("siaga/node/n/cmd", b'{"seq":0,"cmd":"calib","v":"x"}', "wrong_type", "v"),
        ("siaga/node/n/ack", b'{"cseq":1,"ok":2}', "bad_value", "ok"),
        ("siaga/node/n/ack", b'{"cseq":1,"ok":1.0}', "bad_value", "ok"),
        ("siaga/node/n/ack", b'{"cseq":70000,"ok":1}', "bad_value", "cseq"),
        ("siaga/node/n/ack", b'{"ok":1}', "missing_field", "cseq"),
    ],
)
def test_bad_messages_name_their_reason(
    topic: str, payload: bytes, reason: str, detail_part: str
) -> None:
    with pytest.raises(DeviceMessageError) as info:
        decode_device_message(topic, payload)
    assert info.value.reason == reason
    assert detail_part in info.value.detail
    assert info.value.topic == topic


def test_size_limit_is_configurable() -> None:
    payload = b'{"seq": 1, "v": {"vwc": 1}}'
    assert decode_device_message(UP, payload, max_bytes=len(payload)).seq == 1
    with pytest.raises(DeviceMessageError, match="oversized"):
        decode_device_message(UP, payload, max_bytes=len(payload) - 1)


def test_deeply_nested_json_is_not_json_not_a_crash() -> None:
    with pytest.raises(DeviceMessageError) as info:
        decode_device_message(UP, b"[" * 100_000, max_bytes=10**6)
    assert info.value.reason in ("not_json", "not_object")


def test_unknown_top_level_keys_are_ignored_and_unknown_channels_kept() -> None:
    msg = decode_device_message(UP, b'{"seq":1,"v":{"co2":412},"rssi_note":"x","up":99}')
    assert msg.values == {"co2": 412} and msg.uptime_ms == 99


@pytest.mark.parametrize(
    "message",
    [
        DeviceMessage("up", "slope-07", 1, values={"vwc": 31.5, "rain": 3}, ts_ms=17, uptime_ms=5),
        DeviceMessage("hello", "n", 0, fw="1.4.2", channels=("vwc", "rain"), interval_s=60),
        DeviceMessage("event", "n", 2, code="brownout"),
        DeviceMessage("event", "n", 2, code="sensor_fault", channel="smoke"),
        DeviceMessage("cmd", "n", 12, cmd="interval", cmd_value=30),
        DeviceMessage("cmd", "n", 13, cmd="ping"),
        DeviceMessage("ack", "n", 4, cseq=12, ok=True),
        DeviceMessage("ack", "n", None, cseq=12, ok=False),
    ],
)
def test_encode_decode_round_trip(message: DeviceMessage) -> None:
    topic, payload = encode_device_message(message)
    assert topic == device_topic(message.node, message.kind)
    assert decode_device_message(topic, payload) == message


def test_encode_refuses_what_decode_would_refuse() -> None:
    with pytest.raises(DeviceMessageError) as info:
        encode_device_message(DeviceMessage("up", "n", 1, values={"vwc": float("nan")}))
    assert info.value.reason == "nan_or_infinity"
    with pytest.raises(DeviceMessageError) as info:
        encode_device_message(DeviceMessage("hello", "n", 1, fw="1.0", channels=("vwc",)))
    assert info.value.reason == "wrong_type"


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (Frame("D", "n", 1, {"vwc": 31.5, "rain": 3, "up": 600}),
         DeviceMessage("up", "n", 1, values={"vwc": 31.5, "rain": 3}, uptime_ms=600)),
        (Frame("H", "n", 0, {"fw": "1.4.2", "ch": "vwc|rain", "int": 60}),
         DeviceMessage("hello", "n", 0, fw="1.4.2", channels=("vwc", "rain"), interval_s=60)),
        (Frame("E", "n", 2, {"code": "brownout"}), DeviceMessage("event", "n", 2, code="brownout")),
        (Frame("C", "n", 12, {"cmd": "interval", "v": 30}),
         DeviceMessage("cmd", "n", 12, cmd="interval", cmd_value=30)),
        (Frame("A", "n", 4, {"cseq": 12, "ok": 0}),
         DeviceMessage("ack", "n", 4, cseq=12, ok=False)),
    ],
)
def test_serial_frames_and_device_messages_are_one_record(
    frame: Frame, message: DeviceMessage
) -> None:
    decoded = decode_frame(encode_frame(frame))
    assert DeviceMessage.from_frame(decoded) == message
    assert message.to_frame() == frame
    topic, payload = encode_device_message(message)
    assert decode_device_message(topic, payload) == message


def test_an_ack_without_seq_has_no_frame() -> None:
    with pytest.raises(FrameEncodeError):
        DeviceMessage("ack", "n", None, cseq=1, ok=True).to_frame()


def test_topics() -> None:
    assert parse_device_topic("siaga/node/slope-07/event") == ("slope-07", "event")
    assert DEVICE_SUBSCRIPTIONS == (
        "siaga/node/+/up", "siaga/node/+/hello", "siaga/node/+/event", "siaga/node/+/ack",
    )


# ---------------------------------------------------------------- properties

NODE_IDS = st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True)
CHANNEL_KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True).filter(lambda k: k != "up")
NUMBERS = st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False))


@given(NODE_IDS, st.integers(0, 65535), st.dictionaries(CHANNEL_KEYS, NUMBERS, min_size=1),
       st.none() | st.integers(0, 2**45))
def test_up_round_trip_and_matches_the_serial_frame(
    node: str, seq: int, values: dict[str, float], ts_ms: int | None
) -> None:
    message = DeviceMessage("up", node, seq, values=values, ts_ms=ts_ms)
    topic, payload = encode_device_message(message)
    assert decode_device_message(topic, payload) == message
    try:
        line = encode_frame(message.to_frame())
    except FrameEncodeError as e:
        assert e.reason == "too_long"  # a JSON body may carry more than 250 bytes of frame
        return
    serial = DeviceMessage.from_frame(decode_frame(line))
    assert serial.values == values and serial.seq == seq and serial.node == node


@given(st.binary(max_size=200), st.sampled_from(["up", "hello", "event", "ack", "cmd"]))
def test_any_payload_gives_a_message_or_a_reason(payload: bytes, kind: str) -> None:
    try:
        decode_device_message(f"siaga/node/n1/{kind}", payload)
    except DeviceMessageError as e:
        assert e.reason in {
            "oversized", "not_json", "nan_or_infinity", "duplicate_key", "not_object",
            "missing_field", "wrong_type", "bad_seq", "bad_key", "bad_value",
        }
