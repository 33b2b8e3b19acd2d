"""Builds frames.json, the test vectors both codecs (Python and C) must pass.

Run ``python -m siaga.firmware_bridge.vectors.build`` after changing a case; a test checks
that frames.json is what this script writes. Expected results are written here by
hand; only the CRCs are computed (with binascii, not with the codec under test).

frames.json holds strings whose characters are the bytes (latin-1), so a raw line
with a non-ASCII byte survives JSON:

- ``valid``: raw, type, node, seq, fields (JSON ints for ints, floats for floats,
  strings for tokens) and ``canonical`` (true when encoding the decoded frame gives
  raw back byte for byte: CR LF, no leading zeros, numbers as the encoder writes them);
- ``invalid``: raw and the ``reason`` a single-line decode gives;
- ``streams``: an input stream and the events a streaming decoder yields for it,
  ``["frame", type, node, seq]`` or ``["error", reason]``, ending with what flush gives.
"""

from __future__ import annotations

import json
from binascii import crc_hqx
from pathlib import Path
from typing import Any

VECTORS_PATH = Path(__file__).with_name("frames.json")


def frame(body: str, term: str = "\r\n") -> str:
    crc = crc_hqx(body.encode("latin-1"), 0xFFFF)
    return f"${body}*{crc:04X}{term}"


def bad_crc(body: str) -> str:
    crc = crc_hqx(body.encode("latin-1"), 0xFFFF) ^ 0x0100
    return f"${body}*{crc:04X}\r\n"


def padded(head: str, total: int, term: str = "\r\n") -> str:
    """A frame of exactly ``total`` bytes: ``head`` then digits filling the last value."""
    digits = total - len(head) - len("$*XXXX") - len(term)
    return frame(head + "1" * digits, term)


def _last_number(raw: str) -> int:
    return int(raw[raw.rindex("=") + 1 : raw.rindex("*")])


def lower_case_crc(body: str) -> str:
    crc = crc_hqx(body.encode("latin-1"), 0xFFFF)
    assert not f"{crc:04x}".isdigit(), "pick a body whose CRC has a hex letter"
    return f"${body}*{crc:04x}\r\n"


def _valid() -> list[dict[str, Any]]:
    def v(name: str, raw: str, type_: str, node: str, seq: int, fields: dict[str, Any],
          canonical: bool = True) -> dict[str, Any]:
        return {"name": name, "raw": raw, "type": type_, "node": node, "seq": seq,
                "fields": fields, "canonical": canonical}

    at_250 = padded("SG,D,long-250,1,vwc=31.5,x=", 250)
    at_250_lf = padded("SG,D,long-250,1,vwc=31.5,x=", 250, "\n")
    return [
        v("spec example D", frame("SG,D,slope-07,1,vwc=31.5,rain=1042,batt=3.92,up=60211"),
          "D", "slope-07", 1, {"vwc": 31.5, "rain": 1042, "batt": 3.92, "up": 60211}),
        v("spec example H", frame("SG,H,slope-07,0,fw=1.4.2,ch=vwc|rain|batt,int=60"),
          "H", "slope-07", 0, {"fw": "1.4.2", "ch": "vwc|rain|batt", "int": 60}),
        v("spec example C", frame("SG,C,slope-07,12,cmd=interval,v=30"),
          "C", "slope-07", 12, {"cmd": "interval", "v": 30}),
        v("spec example A", frame("SG,A,slope-07,2,cseq=12,ok=1"),
          "A", "slope-07", 2, {"cseq": 12, "ok": 1}),
        v("E with code", frame("SG,E,slope-07,3,code=brownout"),
          "E", "slope-07", 3, {"code": "brownout"}),
        v("E with code and ch", frame("SG,E,smoke-01,4,code=sensor_fault,ch=smoke"),
          "E", "smoke-01", 4, {"code": "sensor_fault", "ch": "smoke"}),
        v("C without v", frame("SG,C,gw,0,cmd=ping"), "C", "gw", 0, {"cmd": "ping"}),
        v("C negative float v", frame("SG,C,n1,7,cmd=calib,v=-1.5"),
          "C", "n1", 7, {"cmd": "calib", "v": -1.5}),
        v("A nack, cseq 65535", frame("SG,A,n1,8,cseq=65535,ok=0"),
          "A", "n1", 8, {"cseq": 65535, "ok": 0}),
        v("D every channel", frame(
            "SG,D,multi_1,42,vwc=0,rain=4294967295,smoke=10000,temp=-3.5,hum=99.9,pin=7,"
            "pout=0,ext=1.25,tilt=-12.25,batt=3.3,rssi=-97,up=0"),
          "D", "multi_1", 42, {"vwc": 0, "rain": 4294967295, "smoke": 10000, "temp": -3.5,
                               "hum": 99.9, "pin": 7, "pout": 0, "ext": 1.25, "tilt": -12.25,
                               "batt": 3.3, "rssi": -97, "up": 0}),
        v("D unknown channel kept", frame("SG,D,air-3,5,co2=412,pm2_5=12.5"),
          "D", "air-3", 5, {"co2": 412, "pm2_5": 12.5}),
        v("node of 16 chars", frame("SG,D,abcdefghij-_0123,1,vwc=1"),
          "D", "abcdefghij-_0123", 1, {"vwc": 1}),
        v("node of 1 char", frame("SG,D,a,1,vwc=1"), "D", "a", 1, {"vwc": 1}),
        v("seq 65535", frame("SG,D,n,65535,vwc=1"), "D", "n", 65535, {"vwc": 1}),
        v("seq 0", frame("SG,D,n,0,vwc=1"), "D", "n", 0, {"vwc": 1}),
        v("seq with leading zeros", frame("SG,D,n,00007,vwc=1"), "D", "n", 7, {"vwc": 1},
          canonical=False),
        v("key of 16 chars", frame("SG,D,n,1,abcdefghijklm_01=2"),
          "D", "n", 1, {"abcdefghijklm_01": 2}),
        v("number -0 is int 0", frame("SG,D,n,1,x=-0"), "D", "n", 1, {"x": 0},
          canonical=False),
        v("number -0.0", frame("SG,D,n,1,x=-0.0"), "D", "n", 1, {"x": -0.0}),
        v("leading zeros are allowed", frame("SG,D,n,1,x=007,y=00.5"),
          "D", "n", 1, {"x": 7, "y": 0.5}, canonical=False),
        v("exponent makes a float", frame("SG,D,n,1,x=1e5,y=1E-3,z=2.5e+3"),
          "D", "n", 1, {"x": 100000.0, "y": 0.001, "z": 2500.0}, canonical=False),
        v("float as the encoder writes it", frame("SG,D,n,1,x=1e+16,y=1.5e-07,z=0.1"),
          "D", "n", 1, {"x": 1e16, "y": 1.5e-07, "z": 0.1}),
        v("trailing zero in fraction", frame("SG,D,n,1,x=1.50"), "D", "n", 1, {"x": 1.5},
          canonical=False),
        v("big integer", frame("SG,D,n,1,x=12345678901234567890"),
          "D", "n", 1, {"x": 12345678901234567890}),
        v("tokens that are not numbers", frame("SG,H,n,1,fw=1.,ch=vwc,int=1"),
          "H", "n", 1, {"fw": "1.", "ch": "vwc", "int": 1}),
        v("token .5 and -", frame("SG,E,n,1,code=.5,ch=-"), "E", "n", 1,
          {"code": ".5", "ch": "-"}),
        v("token of 32 chars", frame("SG,E,n,1,code=" + "Ab0.-_|" * 4 + "abcd"),
          "E", "n", 1, {"code": "Ab0.-_|" * 4 + "abcd"}),
        v("a token that reads as a number is a number", frame("SG,E,n,1,code=404"),
          "E", "n", 1, {"code": 404}),
        v("a number longer than 32 chars", frame("SG,D,n,1,x=" + "9" * 40),
          "D", "n", 1, {"x": int("9" * 40)}),
        v("bare LF terminator", frame("SG,D,n,1,vwc=1", "\n"), "D", "n", 1, {"vwc": 1},
          canonical=False),
        v("exactly 250 bytes", at_250,
          "D", "long-250", 1, {"vwc": 31.5, "x": _last_number(at_250)}),
        v("250 bytes with a bare LF", at_250_lf,
          "D", "long-250", 1, {"vwc": 31.5, "x": _last_number(at_250_lf)}, canonical=False),
        v("uptime beside a channel", frame("SG,D,n,1,up=5,vwc=2"), "D", "n", 1,
          {"up": 5, "vwc": 2}),
        v("A ok with leading zero", frame("SG,A,n,1,cseq=0,ok=01"), "A", "n", 1,
          {"cseq": 0, "ok": 1}, canonical=False),
        v("H extra field kept", frame("SG,H,n,1,fw=2.0,ch=rain,int=600,hw=esp32"),
          "H", "n", 1, {"fw": 2.0, "ch": "rain", "int": 600, "hw": "esp32"}),
    ]


def _invalid() -> list[dict[str, Any]]:
    def x(name: str, raw: str, reason: str) -> dict[str, Any]:
        return {"name": name, "raw": raw, "reason": reason}

    d = "SG,D,slope-07,1,vwc=31.5,rain=1042"
    return [
        x("wrong CRC", bad_crc(d), "crc_mismatch"),
        x("one flipped byte", frame(d).replace("31.5", "31.6"), "crc_mismatch"),
        x("lower-case CRC", lower_case_crc(d), "bad_crc"),
        x("no CRC", f"${d}\r\n", "bad_crc"),
        x("CRC of 3 digits", f"${d}*ABC\r\n", "bad_crc"),
        x("bytes after the CRC", frame(d).replace("\r\n", "X\r\n"), "bad_crc"),
        x("251 bytes", padded("SG,D,long-251,1,x=", 251), "too_long"),
        x("251 bytes with a bare LF", padded("SG,D,long-251,1,x=", 251, "\n"), "too_long"),
        x("non-ASCII byte", frame("SG,D,sl\xe9pe,1,vwc=1"), "non_ascii"),
        x("tab inside", frame("SG,D,n,1,vwc=1,\train=2"), "control_char"),
        x("NUL inside", frame("SG,D,n,1,vwc=1\x00"), "control_char"),
        x("no $", frame(d)[1:], "bad_prefix"),
        x("empty line", "\r\n", "bad_prefix"),
        x("not SG", frame("XG,D,n,1,vwc=1"), "bad_prefix"),
        x("unknown type", frame("SG,X,n,1,vwc=1"), "bad_type"),
        x("lower-case type", frame("SG,d,n,1,vwc=1"), "bad_type"),
        x("two-letter type", frame("SG,DD,n,1,vwc=1"), "bad_type"),
        x("node of 17 chars", frame("SG,D,abcdefghij-_01234,1,vwc=1"), "bad_node"),
        x("empty node", frame("SG,D,,1,vwc=1"), "bad_node"),
        x("dot in node", frame("SG,D,slope.07,1,vwc=1"), "bad_node"),
        x("space in node", frame("SG,D,slope 07,1,vwc=1"), "bad_node"),
        x("header only", frame("SG,D"), "bad_node"),
        x("seq 65536", frame("SG,D,n,65536,vwc=1"), "bad_seq"),
        x("seq of 6 digits", frame("SG,D,n,000001,vwc=1"), "bad_seq"),
        x("negative seq", frame("SG,D,n,-1,vwc=1"), "bad_seq"),
        x("empty seq", frame("SG,D,n,,vwc=1"), "bad_seq"),
        x("no seq", frame("SG,D,n"), "bad_seq"),
        x("empty field", frame("SG,D,n,1,vwc=1,,rain=2"), "bad_field"),
        x("field without =", frame("SG,D,n,1,vwc"), "bad_field"),
        x("trailing comma", frame("SG,D,n,1,vwc=1,"), "bad_field"),
        x("upper-case key", frame("SG,D,n,1,Vwc=1"), "bad_key"),
        x("key starts with a digit", frame("SG,D,n,1,1a=1"), "bad_key"),
        x("key of 17 chars", frame("SG,D,n,1,abcdefghijklm_012=1"), "bad_key"),
        x("dash in key", frame("SG,D,n,1,a-b=1"), "bad_key"),
        x("empty key", frame("SG,D,n,1,=1"), "bad_key"),
        x("duplicate key", frame("SG,D,n,1,vwc=1,rain=2,vwc=3"), "duplicate_key"),
        x("duplicate before a bad value", frame("SG,D,n,1,vwc=1,vwc=+"), "duplicate_key"),
        x("plus sign", frame("SG,D,n,1,x=+1"), "bad_value"),
        x("exponent without digits", frame("SG,D,n,1,x=1e"), "bad_value"),
        x("empty value", frame("SG,D,n,1,x="), "bad_value"),
        x("two =", frame("SG,E,n,1,code=a=b"), "bad_value"),
        x("token of 33 chars", frame("SG,E,n,1,code=" + "a" * 33), "bad_value"),
        x("number overflows a double", frame("SG,C,n,1,cmd=calib,v=1e400"), "bad_value"),
        x("token in a D frame", frame("SG,D,n,1,vwc=abc"), "bad_value"),
        x("1. in a D frame", frame("SG,D,n,1,vwc=1."), "bad_value"),
        x(".5 in a D frame", frame("SG,D,n,1,vwc=.5"), "bad_value"),
        x("D without a channel", frame("SG,D,n,1"), "missing_field"),
        x("D with only uptime", frame("SG,D,n,1,up=100"), "missing_field"),
        x("H without int", frame("SG,H,n,1,fw=1.0.0,ch=vwc"), "missing_field"),
        x("H without fw", frame("SG,H,n,1,ch=vwc,int=60"), "missing_field"),
        x("H int 0", frame("SG,H,n,1,fw=1,ch=vwc,int=0"), "bad_value"),
        x("H int not whole", frame("SG,H,n,1,fw=1,ch=vwc,int=60.5"), "bad_value"),
        x("E without code", frame("SG,E,n,1,ch=smoke"), "missing_field"),
        x("C without cmd", frame("SG,C,n,1,v=3"), "missing_field"),
        x("C with a token v", frame("SG,C,n,1,cmd=interval,v=fast"), "bad_value"),
        x("A without ok", frame("SG,A,n,1,cseq=3"), "missing_field"),
        x("A ok 2", frame("SG,A,n,1,cseq=3,ok=2"), "bad_value"),
        x("A ok 1.0", frame("SG,A,n,1,cseq=3,ok=1.0"), "bad_value"),
        x("A cseq 65536", frame("SG,A,n,1,cseq=65536,ok=1"), "bad_value"),
        x("A cseq negative", frame("SG,A,n,1,cseq=-1,ok=1"), "bad_value"),
    ]


def _streams() -> list[dict[str, Any]]:
    d1 = frame("SG,D,n1,1,vwc=30.5")
    d2 = frame("SG,D,n1,2,vwc=30.6")
    h = frame("SG,H,n1,0,fw=1.0,ch=vwc,int=60")
    long_partial = "$SG,D,n1,3,x=" + "1" * 300
    return [
        {"name": "boot banner, blank line, frames",
         "input": "ESP-ROM:esp32s3\r\nboot: v1.4.2\r\n\r\n" + h + d1,
         "events": [["error", "garbage"], ["error", "garbage"], ["frame", "H", "n1", 0],
                    ["frame", "D", "n1", 1]]},
        {"name": "garbage before $ on the same line",
         "input": "noise" + d1 + "  \r\n" + d2,
         "events": [["error", "garbage"], ["frame", "D", "n1", 1], ["frame", "D", "n1", 2]]},
        {"name": "a $ inside a partial frame resyncs",
         "input": d1[:12] + d2,
         "events": [["error", "no_terminator"], ["frame", "D", "n1", 2]]},
        {"name": "over-long partial frame is dropped once",
         "input": long_partial + "\r\n" + d2,
         "events": [["error", "too_long"], ["frame", "D", "n1", 2]]},
        {"name": "over-long partial frame, then a $ on its line",
         "input": long_partial + d2,
         "events": [["error", "too_long"], ["frame", "D", "n1", 2]]},
        {"name": "bad CRC between good frames",
         "input": d1 + bad_crc("SG,D,n1,2,vwc=1") + d2,
         "events": [["frame", "D", "n1", 1], ["error", "crc_mismatch"],
                    ["frame", "D", "n1", 2]]},
        {"name": "non-ASCII noise between frames",
         "input": d1 + "\xff\xfe\x00\x80\n" + d2,
         "events": [["frame", "D", "n1", 1], ["error", "garbage"], ["frame", "D", "n1", 2]]},
        {"name": "frame cut by the end of the stream",
         "input": d1 + d2[:-4],
         "events": [["frame", "D", "n1", 1], ["error", "no_terminator"]]},
        {"name": "garbage without LF at the end of the stream",
         "input": d1 + "rebooting...",
         "events": [["frame", "D", "n1", 1], ["error", "garbage"]]},
        {"name": "bare LF and CR LF frames mixed",
         "input": frame("SG,D,n1,1,vwc=1", "\n") + d2,
         "events": [["frame", "D", "n1", 1], ["frame", "D", "n1", 2]]},
    ]


def build_vectors() -> dict[str, Any]:
    return {
        "spec": "serial frame protocol v1 (firmware_bridge/PROTOCOL.md)",
        "encoding": "each string's characters are the bytes (latin-1)",
        "valid": _valid(),
        "invalid": _invalid(),
        "streams": _streams(),
    }


def render() -> str:
    return json.dumps(build_vectors(), indent=1, ensure_ascii=True) + "\n"


if __name__ == "__main__":
    VECTORS_PATH.write_text(render(), encoding="ascii")
    print(f"wrote {VECTORS_PATH}")
