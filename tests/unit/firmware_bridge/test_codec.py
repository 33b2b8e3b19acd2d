"""Hand-written cases for the serial frame codec (the shared vectors are in test_vectors.py)."""

from __future__ import annotations

import math

import pytest

from siaga.firmware_bridge.codec import (
    FRAME_ERROR_REASONS,
    MAX_FRAME_BYTES,
    Frame,
    _parse_strict,
    crc16,
    decode_frame,
    encode_frame,
)
from siaga.firmware_bridge.errors import FrameDecodeError, FrameEncodeError
from siaga.firmware_bridge.frame_stream import DecodeError, FrameDecoder

D = Frame("D", "slope-07", 1, {"vwc": 31.5, "rain": 1042, "batt": 3.92, "up": 60211})


def test_crc16_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1


def test_crc16_of_empty_is_init() -> None:
    assert crc16(b"") == 0xFFFF


def test_encode_spec_example_and_decode_back() -> None:
    line = encode_frame(D)
    body = b"SG,D,slope-07,1,vwc=31.5,rain=1042,batt=3.92,up=60211"
    assert line == b"$" + body + b"*%04X\r\n" % crc16(body)
    assert decode_frame(line) == D


@pytest.mark.parametrize("terminator", [b"\r\n", b"\n", b"\r", b""])
def test_decode_accepts_every_terminator_form(terminator: bytes) -> None:
    assert decode_frame(encode_frame(D)[:-2] + terminator) == D


def test_decoded_number_types() -> None:
    frame = decode_frame(encode_frame(Frame("D", "n", 1, {"a": 3, "b": 3.0, "c": -2})))
    assert [type(v) for v in frame.fields.values()] == [int, float, int]


def test_decode_error_carries_reason_detail_and_raw() -> None:
    line = encode_frame(D).replace(b"31.5", b"31.6")
    with pytest.raises(FrameDecodeError) as info:
        decode_frame(line)
    assert info.value.reason == "crc_mismatch"
    assert info.value.raw == line
    assert "frame says" in info.value.detail


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (Frame("X", "n", 1, {"vwc": 1}), "bad_type"),
        (Frame("DD", "n", 1, {"vwc": 1}), "bad_type"),
        (Frame("D", "", 1, {"vwc": 1}), "bad_node"),
        (Frame("D", "a" * 17, 1, {"vwc": 1}), "bad_node"),
        (Frame("D", "no.dots", 1, {"vwc": 1}), "bad_node"),
        (Frame("D", "n", -1, {"vwc": 1}), "bad_seq"),
        (Frame("D", "n", 65536, {"vwc": 1}), "bad_seq"),
        (Frame("D", "n", True, {"vwc": 1}), "bad_seq"),
        (Frame("D", "n", 1, {"Vwc": 1}), "bad_key"),
        (Frame("D", "n", 1, {"a" * 17: 1}), "bad_key"),
        (Frame("D", "n", 1, {"vwc": math.nan}), "bad_value"),
        (Frame("D", "n", 1, {"vwc": math.inf}), "bad_value"),
        (Frame("D", "n", 1, {"vwc": True}), "bad_value"),
        (Frame("D", "n", 1, {"vwc": None}), "bad_value"),  # type: ignore[dict-item]
        (Frame("D", "n", 1, {"vwc": "wet"}), "bad_value"),
        (Frame("E", "n", 1, {"code": "a" * 33}), "bad_value"),
        (Frame("E", "n", 1, {"code": "a,b"}), "bad_value"),
        (Frame("D", "n", 1, {}), "missing_field"),
        (Frame("D", "n", 1, {"up": 5}), "missing_field"),
        (Frame("H", "n", 1, {"fw": "1", "ch": "vwc"}), "missing_field"),
        (Frame("H", "n", 1, {"fw": "1", "ch": "vwc", "int": 0}), "bad_value"),
        (Frame("E", "n", 1, {}), "missing_field"),
        (Frame("C", "n", 1, {"v": 1}), "missing_field"),
        (Frame("A", "n", 1, {"cseq": 1, "ok": 2}), "bad_value"),
        (Frame("A", "n", 1, {"cseq": 70000, "ok": 1}), "bad_value"),
        (Frame("D", "n", 1, {"x": 10 ** 240}), "too_long"),
    ],
)
def test_encode_refuses_what_the_spec_forbids(frame: Frame, reason: str) -> None:
    with pytest.raises(FrameEncodeError) as info:
        encode_frame(frame)
    assert info.value.reason == reason


def test_encode_writes_exactly_250_bytes_but_not_251() -> None:
    head = "SG,D,n,1,x="
    fits = Frame("D", "n", 1, {"x": int("1" * (MAX_FRAME_BYTES - len(head) - 8))})
    assert len(encode_frame(fits)) == MAX_FRAME_BYTES
    over = Frame("D", "n", 1, {"x": fits.fields["x"] * 10})  # type: ignore[operator]
    with pytest.raises(FrameEncodeError):
        encode_frame(over)


def test_encode_float_is_shortest_round_trip_text() -> None:
    line = encode_frame(Frame("D", "n", 1, {"a": 0.1, "b": 1e16, "c": 1.5e-7}))
    assert b"a=0.1,b=1e+16,c=1.5e-07*" in line
    assert decode_frame(line).fields == {"a": 0.1, "b": 1e16, "c": 1.5e-7}


def test_encode_accepts_a_number_given_as_text() -> None:
    line = encode_frame(Frame("D", "n", 1, {"vwc": "31.50"}))
    assert decode_frame(line).fields == {"vwc": 31.5}


def test_fast_path_and_strict_parser_agree_on_examples() -> None:
    for frame in (
        D,
        Frame("H", "n", 0, {"fw": "1.4.2", "ch": "vwc|rain", "int": 60}),
        Frame("C", "n", 12, {"cmd": "interval", "v": 30}),
        Frame("A", "n", 2, {"cseq": 12, "ok": 1}),
        Frame("E", "n", 3, {"code": "brownout", "ch": "smoke"}),
    ):
        line = encode_frame(frame)
        assert decode_frame(line) == _parse_strict(line) == frame


def test_reason_list_is_complete_and_snake_case() -> None:
    assert len(set(FRAME_ERROR_REASONS)) == len(FRAME_ERROR_REASONS) == 16
    assert all(r.replace("_", "").isalpha() and r.islower() for r in FRAME_ERROR_REASONS)


# ---------------------------------------------------------------- streaming


def events(out: list[Frame | DecodeError]) -> list[object]:
    return [o if isinstance(o, Frame) else o.reason for o in out]


def test_stream_frame_split_in_every_place() -> None:
    line = encode_frame(D)
    for cut in range(len(line) + 1):
        decoder = FrameDecoder()
        assert decoder.feed(line[:cut]) + decoder.feed(line[cut:]) == [D]


def test_stream_byte_at_a_time() -> None:
    decoder = FrameDecoder()
    out = [item for byte in encode_frame(D) * 3 for item in decoder.feed(bytes([byte]))]
    assert out == [D, D, D]


def test_stream_reports_a_garbage_line_once_and_skips_blank_lines() -> None:
    decoder = FrameDecoder()
    out = decoder.feed(b"rst:0x1 (POWERON)\r\n\r\n   \n" + encode_frame(D))
    assert events(out) == ["garbage", D]
    assert isinstance(out[0], DecodeError)
    assert out[0].raw == b"rst:0x1 (POWERON)\r\n"


def test_stream_garbage_sample_is_capped() -> None:
    decoder = FrameDecoder()
    out = decoder.feed(b"x" * 10_000 + b"\n")
    assert len(out) == 1 and isinstance(out[0], DecodeError)
    assert len(out[0].raw) == 64 and "10001 bytes" in out[0].detail


def test_stream_never_holds_more_than_a_frame() -> None:
    decoder = FrameDecoder()
    out = []
    for _ in range(100):
        out += decoder.feed(b"$" + b"7" * 1000)  # a frame that never ends, and resyncs
    out += decoder.feed(b"\n" + encode_frame(D))
    assert events(out) == ["too_long"] * 100 + [D]
    assert len(decoder._pending) == 0


def test_stream_too_long_is_reported_once_per_frame() -> None:
    decoder = FrameDecoder()
    out = []
    for _ in range(50):
        out += decoder.feed(b"1" * 100)
    assert decoder.feed(b"$") == [DecodeError("garbage", "5000 bytes between frames", b"1" * 64)]
    for _ in range(50):
        out += decoder.feed(b"2" * 100)
    out += decoder.feed(b"\r\n" + encode_frame(D))
    assert events(out) == ["too_long", D]


def test_flush_reports_the_half_read_frame_then_starts_clean() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(D)[:20]) == []
    assert events(decoder.flush()) == ["no_terminator"]
    assert decoder.flush() == []
    assert decoder.feed(encode_frame(D)) == [D]


def test_error_raw_is_capped() -> None:
    decoder = FrameDecoder()
    out = decoder.feed(b"$" + b"x" * 5000 + b"\n")
    assert events(out) == ["too_long"]
    assert isinstance(out[0], DecodeError) and len(out[0].raw) == MAX_FRAME_BYTES + 1


def test_a_run_of_dollars_is_one_cut_frame_each() -> None:
    """Regression: each '$' used to search the rest of the chunk for a LF (quadratic time)."""
    decoder = FrameDecoder()
    out = decoder.feed(b"$" * 10_000)
    assert events(out) == ["no_terminator"] * 9_999
    assert events(decoder.flush()) == ["no_terminator"]
