"""The Arduino sketch in docs/protocol.md compiles and talks to the Python codec.

Arduino cannot run here, so the sketch is built with g++ against a small fake of
the Arduino API (Serial on stdin/stdout, a millis() clock that advances one second
per loop()). Everything protocol-related is the real C codec and the real Python
decoder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from siaga.firmware_bridge.codec import Frame, encode_frame
from siaga.firmware_bridge.frame_stream import FrameDecoder

ROOT = Path(__file__).resolve().parents[3]
C_DIR = ROOT / "firmware_bridge" / "c"

FAKE_ARDUINO = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "siaga_frame.h"
static uint32_t fake_ms = 0;
static uint32_t millis() { return fake_ms; }
static int analogRead(int) { return 2420; }
static const int A0 = 36, INPUT_PULLUP = 2, FALLING = 2;
static void pinMode(int, int) {}
static int digitalPinToInterrupt(int pin) { return pin; }
static void attachInterrupt(int, void (*)(), int) {}
static void noInterrupts() {}
static void interrupts() {}
static int restarts = 0;
static void restart_node() { restarts++; }
struct FakeSerial {
    void begin(long) {}
    int available() { int c = getchar(); if (c == EOF) return 0; ungetc(c, stdin); return 1; }
    int read() { return getchar(); }
    size_t write(const uint8_t *b, size_t n) { return fwrite(b, 1, n, stdout); }
    void flush() { fflush(stdout); }
} Serial;
"""

RUNNER = r"""
int main() {
    setup();
    for (int i = 0; i < 200; i++) {
        if (i == 100) tips = 7;   /* the bucket tipped 7 times */
        loop();
        fake_ms += 1000;
    }
    return 0;
}
"""


def sketch_source() -> str:
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```cpp\n(.*?)```", doc, re.S)
    assert len(blocks) == 1, "docs/protocol.md has one C++ sketch"
    return blocks[0].replace('#include "siaga_frame.h"\n', "")


def test_doc_sketch_builds_and_speaks_the_protocol(tmp_path: Path) -> None:
    gcc, gxx = shutil.which("gcc"), shutil.which("g++")
    assert gcc and gxx, "gcc and g++ are needed (Debian packages gcc, g++)"
    flags = ["-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"]
    codec = tmp_path / "siaga_frame.o"
    subprocess.run([gcc, *flags, "-std=c99", "-c", str(C_DIR / "siaga_frame.c"), "-o",
                    str(codec)], check=True)
    sketch = tmp_path / "sketch.cpp"
    sketch.write_text(FAKE_ARDUINO + sketch_source() + RUNNER, encoding="utf-8")
    binary = tmp_path / "sketch"
    subprocess.run([gxx, *flags, "-std=c++11", f"-I{C_DIR}", str(sketch), str(codec),
                    "-o", str(binary)], check=True, capture_output=True, text=True)

    commands = (
        encode_frame(Frame("C", "other-node", 1, {"cmd": "ping"}))  # not for this node
        + encode_frame(Frame("C", "rain-03", 12, {"cmd": "interval", "v": 30}))
        + encode_frame(Frame("C", "rain-03", 13, {"cmd": "selfdestruct"}))
    )
    out = subprocess.run([str(binary)], input=commands, capture_output=True, check=True,
                         timeout=30).stdout
    decoder = FrameDecoder()
    items = decoder.feed(out) + decoder.flush()
    frames = [f for f in items if isinstance(f, Frame)]
    assert frames == items
    hello, ack_interval, ack_unknown, *data = frames
    assert hello == Frame("H", "rain-03", 0, {"fw": "1.0.0", "ch": "rain|batt", "int": 60})
    assert ack_interval == Frame("A", "rain-03", 1, {"cseq": 12, "ok": 1})
    assert ack_unknown == Frame("A", "rain-03", 2, {"cseq": 13, "ok": 0})
    assert [f.seq for f in data] == list(range(3, 3 + len(data)))
    ups = [int(f.fields["up"]) for f in data]
    assert {b - a for a, b in zip(ups, ups[1:], strict=False)} == {30_000}  # the new interval
    assert {f.fields["batt"] for f in data} == {3.9}
    assert [f.fields["rain"] for f in data] == [0] * 3 + [7] * (len(data) - 3)
