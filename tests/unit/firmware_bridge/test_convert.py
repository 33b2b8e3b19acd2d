"""SampleConverter: units, counter increments across reboots and wraps, clock skew."""

from __future__ import annotations

import pytest

from siaga.firmware_bridge.channels import COUNTER_MODULUS
from siaga.firmware_bridge.convert import ConversionCounts, SampleConverter
from siaga.firmware_bridge.reading import Reading

T0 = 1_795_000_000.0


def rain_values(converter: SampleConverter, counts: list[float], node: str = "n") -> list[float]:
    out = []
    for i, count in enumerate(counts):
        (reading,) = converter.convert(node, i, {"rain": count}, None, T0 + 60 * i, "serial:x")
        out.append(reading.value)
    return out


def test_gauge_reading_fields() -> None:
    (r,) = SampleConverter().convert("slope-07", 9, {"vwc": 31.5}, None, T0, "serial:/dev/ttyUSB0")
    assert r == Reading(node="slope-07", channel="vwc", value=31.5, unit="%", ts=T0,
                        received_at=T0, seq=9, source="serial:/dev/ttyUSB0")


def test_first_sample_is_the_baseline_then_increments_in_mm() -> None:
    assert rain_values(SampleConverter(), [1000, 1000, 1003, 1010]) == [0.0, 0.0, 0.6, 1.4]


def test_mm_per_tip_per_node() -> None:
    converter = SampleConverter(mm_per_tip={"big-bucket": 0.5})
    assert rain_values(converter, [10, 14], node="big-bucket") == [0.0, 2.0]
    assert rain_values(converter, [10, 14], node="other") == [0.0, 0.8]


def test_counter_reading_carries_raw_and_unit() -> None:
    converter = SampleConverter()
    converter.convert("n", 1, {"pin": 40, "pout": 7}, None, T0, "mqtt")
    pin, pout = converter.convert("n", 2, {"pin": 45, "pout": 7}, None, T0 + 1, "mqtt")
    assert (pin.channel, pin.value, pin.unit, pin.raw) == ("pin", 5.0, "persons", 45)
    assert (pout.value, pout.raw) == (0.0, 7)


def test_reboot_counts_from_zero_and_is_marked() -> None:
    converter = SampleConverter()
    converter.convert("n", 1, {"rain": 5000}, None, T0, "s")
    (after,) = converter.convert("n", 2, {"rain": 3}, None, T0 + 60, "s")
    assert after.value == pytest.approx(0.6)
    assert after.counter_reset is True
    assert converter.counts().counter_resets == 1
    (next_one,) = converter.convert("n", 3, {"rain": 4}, None, T0 + 120, "s")
    assert next_one.value == pytest.approx(0.2) and next_one.counter_reset is False


def test_wrap_at_2_pow_32_is_not_a_reboot() -> None:
    converter = SampleConverter()
    top = COUNTER_MODULUS - 2
    assert rain_values(converter, [top, 3]) == [0.0, pytest.approx(1.0)]  # 5 tips
    assert converter.counts().counter_wraps == 1 and converter.counts().counter_resets == 0


def test_a_16_bit_counter_wraps_at_65536_and_a_big_drop_is_still_a_reset() -> None:
    # A Modbus u16 tip counter (gateway.modbus): 65534 -> 2 is 4 tips, not a reboot; a
    # fall too large to be a wrap within a quarter of the range is the device restarting.
    converter = SampleConverter(counter_modulus={("n", "rain"): 65536})
    assert rain_values(converter, [65534, 2]) == [0.0, pytest.approx(0.8)]
    assert converter.counts().counter_wraps == 1
    (after,) = converter.convert("n", 9, {"rain": 7}, None, T0 + 600, "s")
    assert after.counter_reset is False  # 2 -> 7
    converter.convert("n", 10, {"rain": 40000}, None, T0 + 660, "s")
    (reset,) = converter.convert("n", 11, {"rain": 3}, None, T0 + 720, "s")
    assert reset.counter_reset is True and reset.value == pytest.approx(0.6)
    (bad,) = converter.convert("n", 12, {"rain": 65536}, None, T0 + 780, "s")
    assert bad.value == 0.0 and converter.counts().bad_counter_values == 1


def test_never_a_negative_increment() -> None:
    converter = SampleConverter()
    values = rain_values(converter, [10, 9, 8, 100, 0, COUNTER_MODULUS - 1, 0, 5])
    assert all(v >= 0 for v in values)


@pytest.mark.parametrize("bad", [-1, 1.5, float(COUNTER_MODULUS)])
def test_impossible_counts_are_kept_but_move_nothing(bad: float) -> None:
    converter = SampleConverter()
    converter.convert("n", 1, {"rain": 100}, None, T0, "s")
    (r,) = converter.convert("n", 2, {"rain": bad}, None, T0 + 1, "s")
    assert r.value == 0.0 and (r.raw == bad or r.raw != r.raw)
    (after,) = converter.convert("n", 3, {"rain": 101}, None, T0 + 2, "s")
    assert after.value == pytest.approx(0.2)
    assert converter.counts().bad_counter_values == 1


def test_out_of_range_gauge_and_unknown_channel_are_kept() -> None:
    values = {"vwc": 140.0, "co2": 412, "up": 99}
    readings = SampleConverter().convert("n", 1, values, None, T0, "s")
    assert [(r.channel, r.value, r.unit) for r in readings] == [
        ("vwc", 140.0, "%"), ("co2", 412.0, ""),
    ]


def test_node_clock_within_bound_is_trusted() -> None:
    (r,) = SampleConverter(max_skew_s=300).convert("n", 1, {"vwc": 1}, T0 - 299, T0, "mqtt")
    assert (r.ts, r.node_ts, r.clock_skewed) == (T0 - 299, T0 - 299, False)


def test_node_clock_off_by_more_than_the_bound_is_flagged_and_counted() -> None:
    converter = SampleConverter(max_skew_s=300)
    readings = converter.convert("n", 1, {"vwc": 1, "temp": 20}, T0 + 301, T0, "mqtt")
    assert all((r.ts, r.node_ts, r.clock_skewed) == (T0, T0 + 301, True) for r in readings)
    assert converter.counts() == ConversionCounts(samples=1, clock_skewed=1)


def test_counter_state_is_per_node_and_survives_a_restart() -> None:
    first = SampleConverter()
    rain_values(first, [100, 110], node="a")
    rain_values(first, [5], node="b")
    second = SampleConverter(baselines=first.counter_baselines())
    assert rain_values(second, [112], node="a") == [pytest.approx(0.4)]
    assert first.counter_baselines() == {("a", "rain"): 110, ("b", "rain"): 5}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e300, 10**400])
def test_counts_beyond_the_value_bound_make_no_reading(bad: float) -> None:
    converter = SampleConverter()
    converter.convert("n", 1, {"rain": 100}, None, T0, "s")
    assert converter.convert("n", 2, {"rain": bad, "vwc": 30}, None, T0 + 1, "s")[0].channel \
        == "vwc"
    assert converter.counts().out_of_range == 1
    (after,) = converter.convert("n", 3, {"rain": 101}, None, T0 + 2, "s")
    assert after.value == pytest.approx(0.2)


@pytest.mark.parametrize(("channel", "value"), [
    ("vwc", 1e308), ("vwc", -65536.0), ("temp", 1e6), ("smoke", 10**400), ("smoke", 2e7),
    ("tilt", 1e5), ("custom", 1e13), ("custom", -(10**400)),
])
def test_values_beyond_the_accepted_range_are_refused_alone(channel: str, value: float) -> None:
    converter = SampleConverter()
    (kept,) = converter.convert("n", 1, {channel: value, "hum": 55}, None, T0, "s")
    assert kept.channel == "hum" and kept.value == 55
    assert converter.counts().out_of_range == 1


@pytest.mark.parametrize(("channel", "value"), [
    ("temp", -127.0), ("temp", 85.0), ("hum", 120.0), ("vwc", 6553.5), ("vwc", 65535.0),
    ("tilt", -32768.0), ("custom", -1e12),
])
def test_sensor_faults_inside_the_accepted_range_are_kept(channel: str, value: float) -> None:
    """Outside the sensor's valid range, inside the accepted one (16-bit sentinels
    included): the health detectors need these."""
    (r,) = SampleConverter().convert("n", 1, {channel: value}, None, T0, "s")
    assert r.value == value
