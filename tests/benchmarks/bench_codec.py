"""Codec throughput on one core: frames per second for the serial codec, the MQTT
device-message codec, a reading's buffered JSON and the sample converter. Target (issue 2):
the Python frame decoder takes >= 200,000 typical D frames/s.

    .venv/bin/python tests/benchmarks/bench_codec.py [--seconds 2]

Each figure is the best of 5 runs (the machine is shared; the best run is the one
least disturbed by others), in frames or messages per second of process CPU time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from siaga.firmware_bridge.codec import Frame, decode_frame, encode_frame
from siaga.firmware_bridge.convert import SampleConverter
from siaga.firmware_bridge.device_message import (
    DeviceMessage,
    decode_device_message,
    encode_device_message,
)
from siaga.firmware_bridge.frame_stream import FrameDecoder
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.uplink_codec import reading_entry_payload

TYPICAL = Frame("D", "slope-07", 1, {"vwc": 31.5, "rain": 1042, "batt": 3.92, "up": 60211})
HELLO = Frame("H", "slope-07", 0, {"fw": "1.4.2", "ch": "vwc|rain|batt", "int": 60})


def rate(label: str, per_call: int, call: Callable[[], object], seconds: float) -> float:
    """Best-of-5 items per CPU second for ``call`` (which handles ``per_call`` items)."""
    best = 0.0
    for _ in range(5):
        calls = 0
        start = time.process_time()
        deadline = start + seconds / 5
        while True:
            call()
            calls += 1
            now = time.process_time()
            if now >= deadline:
                break
        best = max(best, calls * per_call / (now - start))
    print(f"{label:<58} {best:>12,.0f} /s")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU time per figure")
    seconds = parser.parse_args().seconds

    line = encode_frame(TYPICAL)
    lines = [encode_frame(Frame("D", f"node-{i % 50:02d}", i % 65536,
                                {"vwc": 20 + (i % 300) / 10, "rain": 1000 + i, "batt": 3.92,
                                 "up": 60000 + i})) for i in range(1000)]
    print(f"typical frame: {line!r} ({len(line)} bytes)")
    batch = 1000

    def decode_batch() -> None:
        for one in lines:
            decode_frame(one)

    decoded = rate("decode_frame, typical D frames", batch, decode_batch, seconds)

    stream = b"".join(lines) * 4
    rate("FrameDecoder.feed, 4000 frames in one 258 kB chunk", len(lines) * 4,
         lambda: FrameDecoder().feed(stream), seconds)
    chunks = [stream[i : i + 4096] for i in range(0, len(stream), 4096)]

    def feed_chunks() -> None:
        decoder = FrameDecoder()
        for chunk in chunks:
            decoder.feed(chunk)

    rate("FrameDecoder.feed, same stream in 4 kB chunks", len(lines) * 4, feed_chunks, seconds)
    small = [stream[i : i + 64] for i in range(0, 64 * 2000, 64)]
    frames_in_small = len(FrameDecoder().feed(b"".join(small)))

    def feed_small() -> None:
        decoder = FrameDecoder()
        for chunk in small:
            decoder.feed(chunk)

    rate("FrameDecoder.feed, 64-byte chunks (a serial port read)", frames_in_small, feed_small,
         seconds)
    dollars = b"$" * 100_000
    rate("FrameDecoder.feed, worst noise: 100 kB of '$' (one error each)", len(dollars),
         lambda: FrameDecoder().feed(dollars), seconds)
    hello_line = encode_frame(HELLO)
    rate("decode_frame, H frames (general path)", batch,
         lambda: [decode_frame(hello_line) for _ in range(batch)], seconds)
    rate("encode_frame, typical D frames", batch,
         lambda: [encode_frame(TYPICAL) for _ in range(batch)], seconds)

    topic, payload = encode_device_message(
        DeviceMessage("up", "slope-07", 1, values={"vwc": 31.5, "rain": 1042, "batt": 3.92},
                      ts_ms=1795000000000))
    rate("decode_device_message, MQTT up", batch,
         lambda: [decode_device_message(topic, payload) for _ in range(batch)], seconds)

    kit = b'{"seq":12345,"ts":1795000000123,"v":{"vwc":31.5,"temp":27.25}}'
    rate("decode_device_message, the side-by-side kit's message", batch,
         lambda: [decode_device_message("siaga/node/sbs-03/up", kit) for _ in range(batch)],
         seconds)
    reading = Reading(node="sbs-03", channel="vwc", value=31.5, unit="%", ts=1795000000.123,
                      received_at=1795000000.125, seq=12345, source="mqtt")
    rate("reading_entry_payload, a kit reading (its buffered JSON)", batch,
         lambda: [reading_entry_payload(reading) for _ in range(batch)], seconds)

    converter = SampleConverter()
    values = {"vwc": 31.5, "rain": 1042, "batt": 3.92}
    rate("SampleConverter.convert, 3-channel sample", batch,
         lambda: [converter.convert("slope-07", 1, values, None, 1.7e9, "serial")
                  for _ in range(batch)], seconds)
    verdict = "meets" if decoded >= 200_000 else "MISSES"
    print(f"decode_frame {verdict} the 200,000 frames/s target ({decoded:,.0f}/s)")


if __name__ == "__main__":
    main()
