"""Sensor health of one channel of one node: out of range, stuck (flatline), impossible jump.

Any of these makes the channel faulty (level Siaga, hazard ``sensor_fault``), and the
engine keeps a faulty channel's readings away from hazard detectors until it clears.
An out-of-range value is not used as the reference for the stuck and jump checks.
Counter channels carry increments, so their range is [0, inf): a negative increment is a
fault. Node-level health (silence, sequence gaps) lives in ``analytics.link_health``;
low battery is a threshold on ``batt`` built by the registry.
"""

from __future__ import annotations

import math

import numpy as np

from siaga.analytics.config import HealthConfig
from siaga.analytics.detector import BatchResult, StrArray, hazard_score
from siaga.analytics.detectors.threshold import spread
from siaga.analytics.explain import Explanation, fmt
from siaga.analytics.hysteresis import FloatArray, forward_fill_index
from siaga.firmware_bridge.channels import CHANNELS

FAULTY = 3


def channel_range(channel: str, cfg: HealthConfig) -> tuple[float, float]:
    if channel in cfg.ranges:
        return cfg.ranges[channel]
    spec = CHANNELS.get(channel)
    if spec is None:
        return (-math.inf, math.inf)
    if spec.kind == "counter":
        return (0.0, math.inf)
    return (spec.lo, spec.hi)


class ChannelHealthDetector:
    name = "health"
    hazard = "sensor_fault"

    def __init__(self, channel: str, cfg: HealthConfig) -> None:
        self.channel = channel
        self.channels = frozenset({channel})
        self.cfg = cfg
        self.lo, self.hi = channel_range(channel, cfg)
        self.stuck_n = cfg.stuck_readings.get(channel, 0)
        self.max_step = cfg.max_step.get(channel, math.inf)
        self.level = 1
        self.score = 0.0
        self.reason = ""
        self._prev = math.nan
        self._run = 0
        self._jump_due = -math.inf
        self._value = math.nan

    @property
    def faulty(self) -> bool:
        return self.level >= FAULTY

    def update(self, ts: float, channel: str, value: float) -> bool:
        self._value = value
        if not self.lo <= value <= self.hi:
            reason = "range"
        else:
            prev = self._prev
            run = self._run = self._run + 1 if value == prev else 1
            if abs(value - prev) > self.max_step:
                self._jump_due = ts + self.cfg.jump_hold_s
            self._prev = value
            if 0 < self.stuck_n <= run:
                reason = "stuck"
            elif ts < self._jump_due:
                reason = "jump"
            elif self.level == 1:
                return False  # healthy and staying so: nothing below would change
            else:
                reason = ""
        if reason:
            self.reason = reason  # a fault's reason may change while the level stays
        new = FAULTY if reason else 1
        if new == self.level:
            return False
        self.level = new
        self.score = (new - 1) / 3.0
        return True

    def metrics(self) -> dict[str, float]:
        return {"value": self._value, "run": float(self._run)}

    def explain(self, previous: int) -> Explanation:
        ch, v = self.channel, fmt(self._value)
        if self.level < previous:
            return Explanation(f"Sensor {ch} kembali normal", f"Sensor {ch} is healthy again",
                               {"value": self._value}, {}, ch)
        texts = {
            "range": (f"Sensor {ch} di luar rentang: {v} (rentang {fmt(self.lo)}..{fmt(self.hi)})",
                      f"Sensor {ch} out of range: {v} (range {fmt(self.lo)}..{fmt(self.hi)})"),
            "stuck": (f"Sensor {ch} macet: {self._run} bacaan sama ({v})",
                      f"Sensor {ch} stuck: {self._run} identical readings ({v})"),
            "jump": (f"Sensor {ch} melompat tidak wajar ke {v} (maks {fmt(self.max_step)} per "
                     "bacaan)", f"Sensor {ch} jumped implausibly to {v} (max "
                     f"{fmt(self.max_step)} per reading)"),
        }
        tid, ten = texts[self.reason]
        return Explanation(tid, ten, {"value": self._value},
                           {"lo": self.lo, "hi": self.hi} if self.reason == "range" else
                           {"stuck_readings": float(self.stuck_n)} if self.reason == "stuck"
                           else {"max_step": self.max_step}, ch)

    def batch(self, ts: FloatArray, channels: StrArray, values: FloatArray) -> BatchResult:
        rows = np.flatnonzero(channels == self.channel)
        t, v = ts[rows], values[rows]
        fault = faulty_mask(t, v, self.lo, self.hi, self.stuck_n, self.max_step,
                            self.cfg.jump_hold_s)
        lv = np.where(fault, FAULTY, 1).astype(np.int8)
        levels = spread(len(ts), rows, lv)
        return BatchResult(levels, hazard_score(levels))


def faulty_mask(t: FloatArray, v: FloatArray, lo: float, hi: float, stuck_n: int,
                max_step: float, hold_s: float) -> np.ndarray:
    """Batch twin of ChannelHealthDetector: True where the channel is faulty."""
    n = len(v)
    out_range = ~((v >= lo) & (v <= hi))
    ok = np.flatnonzero(~out_range)
    fault = out_range.copy()
    if len(ok) == 0:
        return fault
    vo, to = v[ok], t[ok]
    same = np.r_[False, vo[1:] == vo[:-1]]
    start = forward_fill_index(~same)
    run = np.arange(len(vo)) - start + 1
    jump = np.r_[False, np.abs(np.diff(vo)) > max_step]
    last_jump = forward_fill_index(jump)
    due = np.where(last_jump >= 0, to[np.maximum(last_jump, 0)] + hold_s, -np.inf)
    bad = (to < due)
    if stuck_n > 0:
        bad |= run >= stuck_n
    fault[ok] = bad
    return fault if n else fault
