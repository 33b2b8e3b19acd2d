"""One node sample -> Readings: units, counter increments, and which clock to trust.

Pure: no I/O and no wall clock (``received_at`` is given), so a replay equals a live run.

Counters (channels of kind "counter": rain, pin, pout) are cumulative on the node
and become increments here, per (node, channel):

- The first sample seen for a (node, channel) is the baseline: increment 0, since
  what the node counted before we were listening is unknown. (A gateway that keeps
  ``counter_baselines()`` across restarts and passes them back in loses nothing.)
- A value at or above the last one: increment = value - last.
- A value below the last one is a wrap or a reboot, never negative rain. It is a
  2^32 wrap when the wrapped increment ``value + 2^32 - last`` is at most
  ``max_wrap_increment`` (default 2^20: a gauge does not tip a million times between
  two samples); otherwise the node rebooted and counts from 0 again, so the
  increment is ``value`` itself and the reading is marked ``counter_reset``.
- A value that is not a whole number in 0..2^32-1 cannot be a count: the reading is
  kept (raw = the value, increment 0, for the sensor-health detectors), the
  baseline stays as it was, and ``bad_counter_values`` is counted.
- A counter narrower than 32 bits (a Modbus u16 register) names its modulus in
  ``counter_modulus``; it is a wrap when the wrapped increment is at most a quarter
  of that modulus (and ``max_wrap_increment``), a reset otherwise.

Rain increments are mm (``DEFAULT_MM_PER_TIP`` unless ``mm_per_tip`` names the
node); people increments are persons. Gauges pass through, values outside the sensor's
valid range included (sensor-health detectors need them); an unknown channel is kept with
unit "". The ``up`` key (uptime) is not a channel and makes no Reading. A value beyond
its channel's *accepted* range (channels.py: corruption, not a sensor fault; 1e308, a
400-digit number) makes no Reading: it is counted in ``out_of_range`` and the sample's
other channels are kept.

Clock (firmware_bridge/clock_offset.py estimates each node's offset): when the node's
estimated offset is within ``max_skew_s``, ``node_ts`` is the reading's ``ts``;
otherwise ``ts`` is ``node_ts`` corrected by the offset, the node's time stays in
``node_ts``, the readings are marked ``clock_skewed`` and the sample is counted. A
reading whose ``ts`` is more than ``max_skew_s`` before ``received_at`` is ``late``
(kept at its time, counted). A sample without ``node_ts`` is stamped ``received_at``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from siaga.firmware_bridge.channels import (
    CHANNELS,
    COUNTER_CHANNELS,
    COUNTER_MODULUS,
    DEFAULT_MM_PER_TIP,
    UNKNOWN_UNIT,
    VALUE_BOUND,
    reading_unit,
    value_problem,
)
from siaga.firmware_bridge.clock_offset import ClockOffsets
from siaga.firmware_bridge.codec import UPTIME_KEY
from siaga.firmware_bridge.reading import Reading, new_reading

DEFAULT_MAX_SKEW_S = 300.0
DEFAULT_MAX_WRAP_INCREMENT = 2**20

# channel -> (unit, lowest, highest accepted value) of the table's gauges
_GAUGES = {key: (reading_unit(key), *spec.accept) for key, spec in CHANNELS.items()
           if spec.kind != "counter"}
_COUNTER_UNITS = {key: reading_unit(key) for key in COUNTER_CHANNELS}


@dataclass(frozen=True, slots=True)
class ConversionCounts:
    """What the converter has seen since it was made (exported as metrics)."""

    samples: int = 0
    clock_skewed: int = 0
    late: int = 0
    counter_resets: int = 0
    counter_wraps: int = 0
    bad_counter_values: int = 0
    out_of_range: int = 0


class SampleConverter:
    """Turns samples into Readings; holds the last count of every (node, counter)."""

    def __init__(
        self,
        *,
        mm_per_tip: Mapping[str, float] | None = None,
        max_skew_s: float = DEFAULT_MAX_SKEW_S,
        max_wrap_increment: int = DEFAULT_MAX_WRAP_INCREMENT,
        baselines: Mapping[tuple[str, str], int] | None = None,
        counter_modulus: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        self._mm_per_tip = dict(mm_per_tip or {})
        self._max_skew_s = max_skew_s
        self._max_wrap_increment = max_wrap_increment
        self._last: dict[tuple[str, str], int] = dict(baselines or {})
        self._modulus = dict(counter_modulus or {})
        self._samples = 0
        self._skewed = 0
        self._late = 0
        self.clocks = ClockOffsets()
        self.counter_resets = 0  # cumulative, as out_of_range
        self._wraps = 0
        self._bad_counts = 0
        # Readings not made because their value was beyond the accepted range (cumulative;
        # the gateway core counts the difference per sample).
        self.out_of_range = 0

    def convert(
        self,
        node: str,
        seq: int,
        values: Mapping[str, float],
        node_ts: float | None,
        received_at: float,
        source: str,
    ) -> list[Reading]:
        self._samples += 1
        ts, skewed, late = received_at, False, False
        if node_ts is not None:
            offset = self.clocks.observe(node, node_ts, received_at)
            ts = node_ts
            if abs(offset) > self._max_skew_s:
                ts += offset
                skewed = True
                self._skewed += 1
            if received_at - ts > self._max_skew_s:
                late = True
                self._late += 1
        readings = []
        gauges = _GAUGES
        for channel, value in values.items():
            gauge = gauges.get(channel)
            if gauge is not None:  # a table gauge: the common case
                unit, lo, hi = gauge
                if lo <= value <= hi:
                    readings.append(new_reading(node, channel, float(value), unit, ts,
                                                received_at, seq, source, None, node_ts,
                                                skewed, False, late))
                else:
                    self.out_of_range += 1
                continue
            if channel == UPTIME_KEY:
                continue
            raw: float | None = None
            reset = False
            if channel in _COUNTER_UNITS:
                if not -VALUE_BOUND <= value <= VALUE_BOUND:  # NaN and 400 digits too
                    self.out_of_range += 1
                    continue
                raw = value
                increment, reset = self._increment(node, channel, value)
                value = increment * self._mm(node) if channel == "rain" else increment
                value = round(value, 6)  # 3 tips * 0.2 mm is 0.6 mm, not 0.6000000000000001
                unit = _COUNTER_UNITS[channel]
            else:
                unit = UNKNOWN_UNIT
            if value_problem(channel, value, raw) is not None:
                self.out_of_range += 1
                continue
            readings.append(new_reading(node, channel, float(value), unit, ts, received_at, seq,
                                        source, None if raw is None else float(raw), node_ts,
                                        skewed, reset, late))
        return readings

    def _increment(self, node: str, channel: str, value: float) -> tuple[int, bool]:
        """(increment in counts, counter_reset) for a counter sample; updates the baseline."""
        key = (node, channel)
        modulus = self._modulus.get(key, COUNTER_MODULUS)
        if not (math.isfinite(value) and value == int(value) and 0 <= value < modulus):
            self._bad_counts += 1
            return 0, False
        count = int(value)
        last = self._last.get(key)
        self._last[key] = count
        if last is None:
            return 0, False
        if count >= last:
            return count - last, False
        wrapped = count + modulus - last
        if wrapped <= min(self._max_wrap_increment, modulus // 4):
            self._wraps += 1
            return wrapped, False
        self.counter_resets += 1
        return count, True

    def _mm(self, node: str) -> float:
        return self._mm_per_tip.get(node, DEFAULT_MM_PER_TIP)

    def counts(self) -> ConversionCounts:
        return ConversionCounts(
            samples=self._samples,
            clock_skewed=self._skewed,
            late=self._late,
            counter_resets=self.counter_resets,
            counter_wraps=self._wraps,
            bad_counter_values=self._bad_counts,
            out_of_range=self.out_of_range,
        )

    def counter_baselines(self) -> dict[tuple[str, str], int]:
        """The last count of every (node, counter channel), to pass back as ``baselines``."""
        return dict(self._last)
