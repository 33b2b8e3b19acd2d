"""Counter baselines are committed with their readings, so a restart loses no rain or people.

Regression: the converter kept the last count in memory only, so after a gateway restart the
first count was a new baseline (increment 0) and every tip counted while the gateway was down
was lost.
"""

from __future__ import annotations

from pathlib import Path

from siaga.firmware_bridge.convert import SampleConverter
from siaga.firmware_bridge.reading import Reading
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings


def reading(channel: str, value: float, raw: float | None) -> Reading:
    return Reading(node="rain-01", channel=channel, value=value, unit="mm", ts=1.0e9,
                   received_at=1.0e9, seq=1, source="serial:/dev/pts/1", raw=raw)


def test_baselines_survive_a_restart_and_make_the_next_count_an_increment(tmp_path: Path) -> None:
    settings = BufferSettings(path=str(tmp_path / "buffer.sqlite3"))
    before = SampleConverter()
    first = before.convert("rain-01", 1, {"rain": 100, "vwc": 30.0}, None, 1.0e9, "serial")
    second = before.convert("rain-01", 2, {"rain": 105}, None, 1.0e9 + 60, "serial")
    buf = StoreAndForwardBuffer(settings)
    buf.append(first + second, [])
    buf.close()

    after = SampleConverter(baselines=StoreAndForwardBuffer(settings).counter_baselines())
    # 7 tips fell while the gateway was down: they arrive as the first increment, 7 x 0.2 mm
    (r,) = after.convert("rain-01", 3, {"rain": 112}, None, 1.0e9 + 600, "serial")
    assert r.raw == 112
    assert abs(r.value - 1.4) < 1e-9


def test_only_whole_counts_of_counter_channels_become_baselines(tmp_path: Path) -> None:
    buf = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "buffer.sqlite3")))
    buf.append([reading("rain", 0.0, 41.0), reading("rain", 0.0, 42.5),  # not a count: kept
                reading("vwc", 30.0, None), reading("temp", 20.0, 99.0),
                reading("pin", 3.0, float(2**32))], [])
    assert buf.counter_baselines() == {("rain-01", "rain"): 41}
