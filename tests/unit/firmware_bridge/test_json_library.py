"""Without orjson (a gateway where it has no wheel, firmware_bridge installed alone) the
per-message JSON runs on the standard library and gives the same messages and payloads.
The fast-path tests run both parsers in this process; this runs a fresh interpreter where
importing orjson fails, so the import fallback itself is what picks the standard library."""

from __future__ import annotations

import subprocess
import sys

from siaga.firmware_bridge import json_library
from siaga.firmware_bridge.device_message import decode_device_message
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.uplink_codec import reading_entry_payload

PAYLOAD = b'{"seq":12,"ts":1795000000123,"v":{"vwc":30.25,"temp":1e-7}}'
READING = Reading(node="n-1", channel="vwc", value=30.25, unit="%", ts=1795000000.123,
                  received_at=1795000000.125, seq=12, source="mqtt", raw=1e-7)

BAD = (b'{"seq":1,"v":{"vwc":NaN}}', b'{"seq":1,"v":{"vwc":1},"seq":2}', b"\xff")

WITHOUT_ORJSON = f"""
import sys
sys.modules["orjson"] = None  # import orjson now raises ImportError
from siaga.firmware_bridge import device_json, json_library, uplink_codec
from siaga.firmware_bridge.device_message import decode_device_message
from siaga.firmware_bridge.reading import Reading
assert not json_library.ORJSON and uplink_codec.orjson_dumps is None
assert device_json.plain_json is device_json.scan_plain
print(repr(decode_device_message("siaga/node/n-1/up", {PAYLOAD!r})))
print(uplink_codec.reading_entry_payload({READING!r}))
for bad in {BAD!r}:
    try:
        decode_device_message("siaga/node/n-1/up", bad)
    except ValueError as e:
        print(e.reason)
"""


def test_without_orjson_the_standard_library_gives_the_same() -> None:
    out = subprocess.run([sys.executable, "-c", WITHOUT_ORJSON], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert json_library.ORJSON  # and here, with it
    assert out[0] == repr(decode_device_message("siaga/node/n-1/up", PAYLOAD))
    assert out[1] == reading_entry_payload(READING).replace("1e-7", "1e-07")
    assert out[2:] == ["nan_or_infinity", "duplicate_key", "not_json"]
