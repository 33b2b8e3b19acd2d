"""Bus health of one Modbus device: counted by kind, Siaga after N failures in a row."""

from __future__ import annotations

from siaga.firmware_bridge.vocabulary import Level
from siaga.gateway.bus_health import BusError, DeviceHealth


def test_alert_after_n_failures_in_a_row_and_back_to_normal_on_an_answer() -> None:
    h = DeviceHealth("soil-1", "modbus:a", alert_after=3)
    assert h.failure(BusError("timeout", "no answer"), 1.0) is None
    assert h.failure(BusError("crc", "bad"), 2.0) is None
    alert = h.failure(BusError("exception", "exception 6 (device busy)"), 3.0)
    assert alert is not None
    assert (alert.level, alert.previous_level, alert.hazard, alert.detector) == (
        Level.SIAGA, Level.NORMAL, "sensor_fault", "health:bus")
    assert alert.values == {"consecutive_failures": 3.0} and "device busy" in alert.explanation_en
    assert h.failure(BusError("timeout", "x"), 4.0) is None  # one alert per outage
    back = h.success(5.0)
    assert back is not None and back.level == Level.NORMAL and back.previous_level == Level.SIAGA
    assert (h.polls, h.ok, h.timeouts, h.crc_errors, h.exceptions) == (5, 1, 2, 1, 1)


def test_single_failures_between_answers_never_alert() -> None:
    h = DeviceHealth("soil-1", "modbus:a", alert_after=2)
    for t in range(10):
        assert h.failure(BusError("crc", "bad"), t) is None
        assert h.success(t + 0.5) is None
    assert h.snapshot()["crc_errors"] == 10 and not h.down
