"""Rain accumulations (1 h, 3 h, 24 h, antecedent) against BMKG-based flood warning levels."""

from __future__ import annotations

import numpy as np

from siaga.analytics.config import RainConfig
from siaga.analytics.detector import BatchResult, StrArray, hazard_score
from siaga.analytics.detectors.threshold import run_lengths, spread
from siaga.analytics.explain import Explanation, Metric, explain, fmt
from siaga.analytics.hysteresis import (
    FloatArray,
    LevelMachine,
    level_of,
    levels_of,
    lowered,
    run_levels,
)
from siaga.analytics.windows import WindowSum, window_sums

HOUR = 3600.0
# BMKG categories: (lower bound, name, bound excluded). Hourly: light 1-5, moderate 5-10,
# heavy 10-20, very heavy > 20 mm/h. Daily: light 0.5-20, moderate 20-50, heavy 50-100,
# very heavy 100-150, extreme > 150 mm/day.
BMKG_HOURLY = ((20.0, "sangat lebat", True), (10.0, "lebat", False), (5.0, "sedang", False),
               (1.0, "ringan", False))
BMKG_DAILY = ((150.0, "ekstrem", True), (100.0, "sangat lebat", False), (50.0, "lebat", False),
              (20.0, "sedang", False), (0.5, "ringan", False))
BMKG_NAMES = ("tidak hujan", "ringan", "sedang", "lebat", "sangat lebat", "ekstrem")


def bmkg_category(mm: float, table: tuple[tuple[float, str, bool], ...]) -> str:
    for lo, name, strict in table:
        if mm > lo or (mm == lo and not strict):
            return name
    return "tidak hujan"


class RainDetector:
    name = "rain"
    hazard = "flood"
    channels = frozenset({"rain"})

    def __init__(self, cfg: RainConfig) -> None:
        self.cfg = cfg
        self._windows = (WindowSum(HOUR), WindowSum(3 * HOUR), WindowSum(24 * HOUR),
                         WindowSum(cfg.antecedent_s))
        self._up = (cfg.h1, cfg.h3, cfg.h24)
        self._down = tuple(lowered(t, cfg.hysteresis_fraction) for t in self._up)
        self._wet_down = cfg.antecedent_wet_mm * (1 - cfg.hysteresis_fraction)
        self._machine = LevelMachine(cfg.min_duration_s, cfg.clear_after_s)
        self._sums: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
        self.score = 0.0

    @property
    def level(self) -> int:
        return self._machine.level

    def update(self, ts: float, channel: str, value: float) -> bool:
        s = tuple(w.add(ts, value) for w in self._windows)
        self._sums = s
        up = max(level_of(s[0], self._up[0]), level_of(s[1], self._up[1]),
                 level_of(s[2], self._up[2]))
        down = max(level_of(s[0], self._down[0]), level_of(s[1], self._down[1]),
                   level_of(s[2], self._down[2]))
        if up >= 2 and s[3] >= self.cfg.antecedent_wet_mm:
            up = min(up + 1, 4)
        if down >= 2 and s[3] >= self._wet_down:
            down = min(down + 1, 4)
        changed = self._machine.step(ts, up, down)
        self.score = (self._machine.level - 1) / 3.0
        return changed

    def metrics(self) -> dict[str, float]:
        return dict(zip(("rain_1h_mm", "rain_3h_mm", "rain_24h_mm", "rain_antecedent_mm"),
                        self._sums, strict=True))

    def explain(self, previous: int) -> Explanation:
        s = self._sums
        ms = [Metric("rain_1h_mm", "Curah hujan 1 jam", "1-hour rainfall", "mm", s[0], self.cfg.h1),
              Metric("rain_3h_mm", "Curah hujan 3 jam", "3-hour rainfall", "mm", s[1], self.cfg.h3),
              Metric("rain_24h_mm", "Curah hujan 24 jam", "24-hour rainfall", "mm", s[2],
                     self.cfg.h24)]
        note_id = note_en = ""
        if s[3] >= self.cfg.antecedent_wet_mm and self.level >= 3:
            days = fmt(self.cfg.antecedent_s / 86400)
            note_id = f"; hujan {days} hari sebelumnya {fmt(s[3])} mm (tanah basah)"
            note_en = f"; antecedent {days}-day rainfall {fmt(s[3])} mm (wet ground)"
        e = explain(ms, self.level, previous, channel="rain", window_s=24 * HOUR,
                    note_id=note_id, note_en=note_en)
        e.values["rain_antecedent_mm"] = s[3]
        # Category index in BMKG_NAMES (values are numbers on the wire).
        e.values["bmkg_hourly_category"] = float(BMKG_NAMES.index(bmkg_category(s[0],
                                                                               BMKG_HOURLY)))
        e.values["bmkg_daily_category"] = float(BMKG_NAMES.index(bmkg_category(s[2], BMKG_DAILY)))
        return e

    def batch(self, ts: FloatArray, channels: StrArray, values: FloatArray) -> BatchResult:
        rows = np.flatnonzero(channels == "rain")
        t, v = ts[rows], values[rows]
        s = [window_sums(t, v, w.window_s) for w in self._windows]
        up = np.maximum.reduce([levels_of(s[i], self._up[i]) for i in range(3)])
        down = np.maximum.reduce([levels_of(s[i], self._down[i]) for i in range(3)])
        up = np.where((up >= 2) & (s[3] >= self.cfg.antecedent_wet_mm),
                      np.minimum(up + 1, 4), up).astype(np.int8)
        down = np.where((down >= 2) & (s[3] >= self._wet_down),
                        np.minimum(down + 1, 4), down).astype(np.int8)
        lv = run_levels(t, up, down, self.cfg.min_duration_s, self.cfg.clear_after_s)
        levels = spread(len(ts), rows, lv)
        names = ("rain_1h_mm", "rain_3h_mm", "rain_24h_mm", "rain_antecedent_mm")
        metrics = {n: _spread_float(len(ts), rows, x) for n, x in zip(names, s, strict=True)}
        return BatchResult(levels, hazard_score(levels), metrics)


def _spread_float(n: int, rows: np.ndarray, x: np.ndarray, start: float = 0.0) -> np.ndarray:
    if len(rows) == n:
        return x.astype(np.float64)
    return np.repeat(np.r_[start, x.astype(np.float64)], run_lengths(n, rows))


spread_float = _spread_float
