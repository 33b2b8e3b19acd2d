import io
import json
import math

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.reading import Reading, iso_utc
from siaga.firmware_bridge.vocabulary import Level
from siaga.gateway.messages import IngestError
from siaga.gateway.stdout_output import IsoTimes, JsonLinesOutput, reading_line


def test_reading_line_equals_reading_to_json() -> None:
    iso = IsoTimes()
    cases = [
        Reading("slope-07", "vwc", 31.5, "%", 1795000000.0, 1795000000.0505, 1,
                "serial:/dev/ttyUSB0"),
        Reading("n\"1", "rain", 0.6, "mm", 1795000001.9996, 1795000002.0, 65535, "mqtt",
                raw=1042.0, node_ts=1795000001.9996, clock_skewed=True, counter_reset=True),
        Reading("n", "x", math.nan, "", 0.0, 1e9 + 0.9999996, 0, "serial:/dev/\u00e9"),
        Reading("n", "x", -math.inf, "", 1.5, 1.0004999, 0, "s", raw=math.inf),
        Reading("n", "pin", 3.0, "persons", 1.5, 1.5, 0, "s", raw=103),  # type: ignore[arg-type]
    ]
    for r in cases:
        got = json.loads(reading_line(r, iso))
        want = json.loads(json.dumps(r.to_json()))
        assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


def test_iso_times_matches_iso_utc_across_seconds() -> None:
    iso = IsoTimes()
    ts = 1795000000.0
    for i in range(5000):
        t = ts + i * 0.0007311
        assert iso(t) == iso_utc(t)


def test_output_writes_lines_per_batch_and_survives_a_closed_pipe() -> None:
    buf = io.BytesIO()
    out = JsonLinesOutput(buf)
    r = Reading("n", "vwc", 1.0, "%", 1.0, 1.0, 1, "mqtt")
    alert = Alert("n", "landslide", Level.SIAGA, Level.WASPADA, "landslide", 1.0, "id", "en")
    out.write([r], [alert], [IngestError("mqtt", 1.0, "not_json", "bad", "{x")])
    kinds = [json.loads(line)["kind"] for line in buf.getvalue().decode().splitlines()]
    assert kinds == ["reading", "error", "alert"]

    class Closed(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            raise BrokenPipeError(32, "Broken pipe")

    closed = JsonLinesOutput(Closed())
    closed.write([r], [], [])
    assert closed.closed
    closed.write([r], [], [])  # no second error
