"""The reference C codec (firmware_bridge/c/), built with the machine's gcc, against the
shared vectors, and against the Python codec on a long noisy stream."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from siaga.firmware_bridge.codec import Frame, crc16, decode_frame, encode_frame
from siaga.firmware_bridge.errors import FrameDecodeError
from siaga.firmware_bridge.frame_stream import FrameDecoder
from tests.unit.firmware_bridge.vectors import INVALID, STREAMS, VALID, name, raw

C_DIR = Path(__file__).resolve().parents[3] / "firmware_bridge" / "c"
CFLAGS = ["-Wall", "-Wextra", "-Werror", "-std=c99", "-pedantic", "-O2"]


def build(out: Path, *defines: str) -> Path:
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to check the C codec (Debian package gcc)"
    subprocess.run(
        [gcc, *CFLAGS, *defines, "-o", str(out),
         str(C_DIR / "siaga_frame.c"), str(C_DIR / "vector_check.c")],
        check=True, capture_output=True, text=True,
    )
    return out


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("c") / "vector_check")


def run(driver: Path, mode: str, data: bytes) -> list[str]:
    done = subprocess.run([str(driver), mode], input=data, capture_output=True, check=True,
                          timeout=60)
    return done.stdout.decode("ascii").splitlines()


def parse_all(driver: Path, vectors: list[dict[str, Any]]) -> list[tuple[str, str]]:
    lines = run(driver, "parse", b"".join(raw(v).hex().encode() + b"\n" for v in vectors))
    assert len(lines) == 2 * len(vectors)
    return list(zip(lines[0::2], lines[1::2], strict=True))


def c_value(kind_text: str) -> object:
    kind, _, text = kind_text.partition(":")
    return {"i": int, "f": float, "t": str}[kind](text)


@pytest.fixture(scope="module")
def valid_results(driver: Path) -> dict[str, tuple[str, str]]:
    return dict(zip([name(v) for v in VALID], parse_all(driver, VALID), strict=True))


@pytest.mark.parametrize("vector", VALID, ids=name)
def test_c_parses_valid_vector(vector: dict[str, Any],
                               valid_results: dict[str, tuple[str, str]]) -> None:
    parsed, _ = valid_results[name(vector)]
    word, frame_type, node, seq, *fields = parsed.split(" ")
    assert (word, frame_type, node, int(seq)) == ("OK", vector["type"], vector["node"],
                                                  vector["seq"])
    keys = [f.partition("=")[0] for f in fields]
    values = [c_value(f.partition("=")[2]) for f in fields]
    assert keys == list(vector["fields"])
    assert values == list(vector["fields"].values())
    assert [type(v) for v in values] == [type(v) for v in vector["fields"].values()]


@pytest.mark.parametrize("vector", VALID, ids=name)
def test_c_reencodes_valid_vector(vector: dict[str, Any],
                                  valid_results: dict[str, tuple[str, str]]) -> None:
    """The C encoder keeps number text as given, so it rebuilds every CR LF vector
    byte for byte, except a seq written with leading zeros."""
    _, encoded = valid_results[name(vector)]
    line = raw(vector)
    if not line.endswith(b"\r\n"):
        assert encoded in ("ENCERR too_long", "ENC " + (line[:-1] + b"\r\n").hex())
        return
    assert encoded.startswith("ENC ")
    again = bytes.fromhex(encoded[4:])
    if f",{vector['seq']}," in line.decode("latin-1"):
        assert again == line
    frame = decode_frame(again)
    assert frame == Frame(vector["type"], vector["node"], vector["seq"], vector["fields"])


def test_c_gives_each_invalid_vector_its_reason(driver: Path) -> None:
    got = {name(v): parsed for v, (parsed, _) in zip(INVALID, parse_all(driver, INVALID),
                                                     strict=True)}
    assert got == {name(v): f"ERR {v['reason']}" for v in INVALID}


def events_of(lines: list[str]) -> list[list[object]]:
    out: list[list[object]] = []
    for line in lines:
        word, *rest = line.split(" ")
        if word == "FRAME":
            out.append(["frame", rest[0], rest[1], int(rest[2])])
        else:
            out.append(["error", rest[0]])
    return out


@pytest.mark.parametrize("vector", STREAMS, ids=name)
def test_c_stream_vector(driver: Path, vector: dict[str, Any]) -> None:
    assert events_of(run(driver, "stream", raw(vector, "input"))) == vector["events"]


def python_events(data: bytes) -> list[list[object]]:
    decoder = FrameDecoder()
    out = decoder.feed(data) + decoder.flush()
    return [
        ["frame", o.type, o.node, o.seq] if isinstance(o, Frame) else ["error", o.reason]
        for o in out
    ]


def test_c_and_python_stream_decoders_agree_on_vectors_among_noise(driver: Path) -> None:
    rng = random.Random(20261123)
    lines = [raw(v) for v in VALID + INVALID]
    noise = [b"boot: v1.4.2\r\n", b"\r\n", b"$", b"\n", b"\x00\xff", b"$SG,D,n,1,vwc=",
             b"x" * 300, b"$" + b"9" * 260, b"  \t\r\n"]
    pieces = []
    for _ in range(3000):
        if rng.random() < 0.6:
            pieces.append(rng.choice(lines))
        elif rng.random() < 0.5:
            pieces.append(rng.choice(noise))
        else:
            pieces.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))
    data = b"".join(pieces)
    expected = python_events(data)
    assert len([e for e in expected if e[0] == "frame"]) > 500
    assert events_of(run(driver, "stream", data)) == expected


def test_c_decodes_every_valid_vector_in_one_stream(driver: Path) -> None:
    data = b"garbage line\r\n".join(raw(v) for v in VALID)
    frames = [e for e in events_of(run(driver, "stream", data)) if e[0] == "frame"]
    assert frames == [["frame", v["type"], v["node"], v["seq"]] for v in VALID]


def test_c_encoder_and_field_helpers(driver: Path) -> None:
    lines = run(driver, "api", b"")
    hello = encode_frame(Frame("H", "slope-07", 0, {"fw": "1.4.2", "ch": "vwc|rain|batt",
                                                    "int": 60}))
    assert lines[0] == "crc 29B1"
    assert lines[1].startswith("data $SG,D,slope-07,1,vwc=31.5,rain=4294967295,batt=3.92,")
    assert decode_frame(lines[1][5:].encode()).fields == {
        "vwc": 31.5, "rain": 4294967295, "batt": 3.92, "temp": -0.05, "rssi": -97,
        "tilt": 0.0, "up": 60211,
    }
    assert lines[2] == "hello " + hello[:-2].decode()
    assert lines[3:13] == [
        "bad_node error bad_node", "bad_type error bad_type", "bad_key error bad_key",
        "nan error bad_value", "bad_token error bad_value", "duplicate error duplicate_key",
        "missing error missing_field", "too_long error too_long",
        "small_buffer error buffer_too_small", "parse ok",
    ]
    assert lines[13:] == ["cmd 0 1 0", "v 1 1 30 1 30.0", "missing -1 0", "token_as_long 0"]


def test_c_field_limit_is_reported(tmp_path: Path) -> None:
    small = build(tmp_path / "vector_check_2", "-DSIAGA_MAX_FIELDS=2")
    three = encode_frame(Frame("D", "n", 1, {"a": 1, "b": 2, "c": 3}))
    two = encode_frame(Frame("D", "n", 1, {"a": 1, "b": 2}))
    out = run(small, "parse", three.hex().encode() + b"\n" + two.hex().encode() + b"\n")
    assert out[0] == "ERR too_many_fields"
    assert out[2] == "OK D n 1 a=i:1 b=i:2"


def random_body(rng: random.Random) -> str:
    """A frame body that is often nearly valid: the place where codecs drift apart."""
    def pick(good: str, *bad: str) -> str:
        return good if rng.random() < 0.9 else rng.choice(bad)

    values = ["1", "-0", "007", "31.5", "1e5", "1E-3", "2.5e+3", "1.", ".5", "-", "+1", "1e",
              "1e400", "1e308", "0e999", "abc", "1.4.2", "vwc|rain", "a" * 32, "a" * 33, "",
              "x=y", "65535", "65536", "0", "2", "-1", "1.0", "9" * 30]
    keys = ["vwc", "rain", "up", "x", "Vwc", "1a", "a-b", "", "abcdefghijklm_01",
            "abcdefghijklm_012"]
    frame_type = pick(rng.choice("DHECA"), "X", "DD", "d", "")
    required = {"D": ["vwc"], "H": ["fw", "ch", "int"], "E": ["code"], "C": ["cmd", "v"],
                "A": ["cseq", "ok"]}.get(frame_type, [])
    parts = [pick("SG", "XG", "sg"), frame_type,
             pick(rng.choice(["n", "slope-07", "a" * 16]), "a" * 17, "", "b.c", "a b"),
             pick(str(rng.randrange(65536)), "65536", "000001", "-1", "", "x")]
    fields = [k for k in required if rng.random() < 0.9]
    fields += [rng.choice(keys) for _ in range(rng.randrange(0, 4))]
    rng.shuffle(fields)
    for key in fields:
        parts.append(pick(f"{key}={rng.choice(values)}", "", key))
    return ",".join(parts)


def test_c_and_python_give_the_same_verdict_on_random_near_frames(driver: Path) -> None:
    rng = random.Random(7)
    lines = []
    for _ in range(4000):
        body = random_body(rng).encode()
        lines.append(b"$%s*%04X\r\n" % (body, crc16(body)))
    results = run(driver, "parse", b"".join(line.hex().encode() + b"\n" for line in lines))
    verdicts: set[str] = set()
    for line, c_result in zip(lines, results[0::2], strict=True):
        try:
            frame = decode_frame(line)
        except FrameDecodeError as e:
            python = f"ERR {e.reason}"
        else:
            python = "OK " + " ".join([frame.type, frame.node, str(frame.seq)])
        c_short = c_result if c_result.startswith("ERR") else " ".join(c_result.split(" ")[:4])
        assert c_short == python, line
        if python.startswith("OK"):
            c_fields = {f.partition("=")[0]: c_value(f.partition("=")[2])
                        for f in c_result.split(" ")[4:]}
            assert c_fields == frame.fields, line
            assert [type(v) for v in c_fields.values()] == [type(v) for v in frame.fields.values()]
        verdicts.add(" ".join(python.split(" ")[:2]))
    assert len(verdicts) >= 12, verdicts  # the generator reaches many different outcomes


def test_c_codec_is_clean_under_address_and_undefined_behaviour_sanitizers(
    driver: Path, tmp_path: Path
) -> None:
    """Out-of-bounds access, overflow or any other UB on the vectors, the noisy stream
    and the random near-frames aborts the sanitized build; its answers match the plain one."""
    sanitized = build(tmp_path / "vector_check_san", "-g", "-fsanitize=address,undefined",
                      "-fno-sanitize-recover=all")
    rng = random.Random(11)
    bodies = [random_body(rng).encode() for _ in range(2000)]
    lines = [raw(v) for v in VALID + INVALID] + [
        b"$%s*%04X\r\n" % (body, crc16(body)) for body in bodies
    ]
    parse_input = b"".join(line.hex().encode() + b"\n" for line in lines)
    noise = bytes(rng.randrange(256) for _ in range(20_000))
    stream_input = b"".join(lines) + noise + b"".join(lines[::-1])
    for mode, data in (("parse", parse_input), ("stream", stream_input), ("api", b"")):
        assert run(sanitized, mode, data) == run(driver, mode, data)
