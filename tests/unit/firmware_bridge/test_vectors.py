"""The Python codec against the shared vectors (the C codec: test_c_codec.py)."""

from __future__ import annotations

from typing import Any

import pytest

from siaga.firmware_bridge.codec import (
    FRAME_ERROR_REASONS,
    Frame,
    _parse_strict,
    decode_frame,
    encode_frame,
)
from siaga.firmware_bridge.errors import FrameDecodeError, FrameEncodeError
from siaga.firmware_bridge.frame_stream import FrameDecoder
from siaga.firmware_bridge.vectors.build import VECTORS_PATH, render
from tests.unit.firmware_bridge.vectors import INVALID, STREAMS, VALID, name, raw


def test_frames_json_is_what_the_builder_writes() -> None:
    assert VECTORS_PATH.read_text(encoding="ascii") == render(), (
        "run: python -m siaga.firmware_bridge.vectors.build"
    )


def test_vectors_cover_every_type_and_every_single_line_reason() -> None:
    assert {v["type"] for v in VALID} == {"D", "H", "E", "C", "A"}
    line_reasons = set(FRAME_ERROR_REASONS) - {"no_terminator", "garbage"}
    assert {v["reason"] for v in INVALID} == line_reasons
    stream_reasons = {e[1] for s in STREAMS for e in s["events"] if e[0] == "error"}
    assert {"no_terminator", "garbage", "too_long"} <= stream_reasons


@pytest.mark.parametrize("vector", VALID, ids=name)
def test_valid_vector_decodes(vector: dict[str, Any]) -> None:
    for decode in (decode_frame, _parse_strict):
        frame = decode(raw(vector))
        assert (frame.type, frame.node, frame.seq) == (vector["type"], vector["node"],
                                                       vector["seq"])
        assert frame.fields == vector["fields"]
        assert list(frame.fields) == list(vector["fields"])
        assert [type(v) for v in frame.fields.values()] == [
            type(v) for v in vector["fields"].values()
        ]


@pytest.mark.parametrize("vector", VALID, ids=name)
def test_valid_vector_encodes_back(vector: dict[str, Any]) -> None:
    frame = Frame(vector["type"], vector["node"], vector["seq"], vector["fields"])
    if vector["canonical"]:
        assert encode_frame(frame) == raw(vector)
        return
    try:
        line = encode_frame(frame)
    except FrameEncodeError as e:  # only the 250-byte bare-LF line grows past the limit
        assert e.reason == "too_long" and not raw(vector).endswith(b"\r\n")
        return
    assert line != raw(vector)
    assert decode_frame(line) == frame


@pytest.mark.parametrize("vector", INVALID, ids=name)
def test_invalid_vector_gives_its_reason(vector: dict[str, Any]) -> None:
    for decode in (decode_frame, _parse_strict):
        with pytest.raises(FrameDecodeError) as info:
            decode(raw(vector))
        assert info.value.reason == vector["reason"], info.value.detail


def stream_events(data: bytes, chunk: int) -> list[list[object]]:
    decoder = FrameDecoder()
    out = []
    for start in range(0, len(data), chunk):
        out += decoder.feed(data[start : start + chunk])
    out += decoder.flush()
    return [
        ["frame", o.type, o.node, o.seq] if isinstance(o, Frame) else ["error", o.reason]
        for o in out
    ]


@pytest.mark.parametrize("vector", STREAMS, ids=name)
@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
def test_stream_vector(vector: dict[str, Any], chunk: int) -> None:
    assert stream_events(raw(vector, "input"), chunk) == vector["events"]


def test_all_vectors_as_one_stream() -> None:
    """Every valid vector comes out, in order; every invalid one costs only itself."""
    data = b"".join(raw(v) for v in VALID + INVALID if raw(v).endswith(b"\n"))
    frames = [e for e in stream_events(data, 13) if e[0] == "frame"]
    assert frames == [["frame", v["type"], v["node"], v["seq"]] for v in VALID]
