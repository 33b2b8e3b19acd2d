"""Plain threshold with hysteresis and a minimum duration on one channel of one node."""

from __future__ import annotations

import numpy as np

from siaga.analytics.config import ChannelThreshold
from siaga.analytics.detector import BatchResult, StrArray, hazard_score
from siaga.analytics.explain import Explanation, Metric, explain
from siaga.analytics.hysteresis import (
    FloatArray,
    LevelMachine,
    level_of,
    levels_of,
    lowered,
    run_levels,
)
from siaga.firmware_bridge.channels import CHANNELS

# Which hazard a bare channel threshold speaks for.
CHANNEL_HAZARD: dict[str, str] = {
    "vwc": "landslide", "ext": "landslide", "tilt": "landslide", "rain": "flood",
    "smoke": "fire", "temp": "fire", "pin": "crowd", "pout": "crowd",
}


class ThresholdDetector:
    name = "threshold"

    def __init__(self, channel: str, cfg: ChannelThreshold) -> None:
        self.channel = channel
        self.channels = frozenset({channel})
        self.hazard = CHANNEL_HAZARD.get(channel, "sensor_fault")
        self.cfg = cfg
        self._down = lowered(cfg.levels, absolute=cfg.hysteresis)
        self._machine = LevelMachine(cfg.min_duration_s)
        self._levels = cfg.levels
        self._waspada = cfg.levels.waspada
        self._value = float("nan")
        self.level = 1
        self.score = 0.0

    def update(self, ts: float, channel: str, value: float) -> bool:
        self._value = value
        machine = self._machine
        if self.level == 1 and not machine.pending and (
                value > self._waspada if self._levels.below else value < self._waspada):
            # Short of Waspada at Normal with no move pending: up is 1 and down at least 1,
            # so ``step`` would change nothing (issue 17: the temperature threshold on
            # every temp reading).
            return False
        if machine.step(ts, level_of(value, self._levels), level_of(value, self._down)):
            self.level = machine.level
            self.score = (self.level - 1) / 3.0
            return True
        return False

    def metrics(self) -> dict[str, float]:
        return {self.channel: self._value}

    def explain(self, previous: int) -> Explanation:
        spec = CHANNELS.get(self.channel)
        name = spec.quantity if spec else self.channel
        m = Metric(self.channel, f"Nilai {self.channel}", name.capitalize(),
                   spec.unit if spec else "", self._value, self.cfg.levels)
        return explain([m], self.level, previous, channel=self.channel)

    def batch(self, ts: FloatArray, channels: StrArray, values: FloatArray) -> BatchResult:
        rows = np.flatnonzero(channels == self.channel)
        t, v = ts[rows], values[rows]
        lv = run_levels(t, levels_of(v, self.cfg.levels), levels_of(v, self._down),
                        self.cfg.min_duration_s)
        levels = _spread(len(ts), rows, lv)
        return BatchResult(levels, hazard_score(levels))


def _spread(n: int, rows: np.ndarray, lv: np.ndarray, start: int = 1) -> np.ndarray:
    """Levels known at ``rows`` carried forward to every row (``start`` before the first)."""
    if len(rows) == n:  # every row: nothing to carry
        return lv.astype(np.int8)
    return np.repeat(np.r_[np.int8(start), lv.astype(np.int8)], run_lengths(n, rows))


def run_lengths(n: int, rows: np.ndarray) -> np.ndarray:
    """How many of ``n`` rows each value covers when values known at ``rows`` (ascending)
    are carried forward: the start value up to ``rows[0]``, then each row's value up to
    the next of ``rows`` (np.repeat's counts; no n-length index array)."""
    return np.diff(rows, prepend=0, append=n)


spread = _spread
