"""Fire: smoke level and rate of rise; Awas only when a second channel confirms.

Confirmation is a temperature rise on the same node (``temp_rise_c`` within
``temp_window_s``, or the fixed ``temp_fixed_c``), or a neighbouring smoke node of the
same site at Waspada or above (the engine sets ``neighbour_alarm``). Unconfirmed smoke
stops at Siaga; confirmed smoke at Siaga or above is Awas.
"""

from __future__ import annotations

import math

import numpy as np

from siaga.analytics.config import FireConfig
from siaga.analytics.detector import BatchResult, StrArray, hazard_score
from siaga.analytics.detectors.rain import spread_float
from siaga.analytics.detectors.threshold import spread
from siaga.analytics.explain import Explanation, Metric, explain, fmt
from siaga.analytics.hysteresis import (
    FloatArray,
    LevelMachine,
    level_of,
    levels_of,
    lowered,
    run_levels,
)
from siaga.analytics.windows import WindowRate, window_rates

MINUTE = 60.0


class FireDetector:
    name = "fire"
    hazard = "fire"
    channels = frozenset({"smoke", "temp"})

    def __init__(self, cfg: FireConfig) -> None:
        self.cfg = cfg
        h = cfg.hysteresis_fraction
        self._smoke_down = lowered(cfg.smoke, h)
        self._rate_down = cfg.rate_waspada_ppm_min * (1 - h)
        self._rise_down = cfg.temp_rise_c * (1 - h)
        self._fixed_down = cfg.temp_fixed_c - abs(cfg.temp_fixed_c) * h
        self._smoke_rate = WindowRate(cfg.rate_window_s, MINUTE)
        self._temp_rise = WindowRate(cfg.temp_window_s, cfg.temp_window_s)
        self._machine = LevelMachine(cfg.min_duration_s, cfg.clear_after_s)
        self._smoke = math.nan
        self._rate = 0.0
        self._temp = math.nan
        self._rise = 0.0
        self.neighbour_alarm = False
        self._smoke_up = self._smoke_down_to = 1
        self._smoke_candidates()
        self.level = 1
        self.score = 0.0

    def _smoke_candidates(self) -> None:
        """The levels smoke asks for (up, and on the lowered thresholds) before any
        confirmation. Only a smoke reading changes them, so a temp reading reuses them
        (issue 17: two ``level_of`` calls less per temp reading; with confirmation checked
        only from Siaga on and ``level`` an attribute, a temp update went 1.13 -> 0.38 us
        CPU)."""
        rate = self._rate
        self._smoke_up = max(level_of(self._smoke, self.cfg.smoke),
                             2 if rate >= self.cfg.rate_waspada_ppm_min else 1)
        self._smoke_down_to = max(level_of(self._smoke, self._smoke_down),
                                  2 if rate >= self._rate_down else 1)

    def update(self, ts: float, channel: str, value: float) -> bool:
        if channel == "smoke":
            self._smoke = value
            self._rate = self._smoke_rate.add(ts, value)
            self._smoke_candidates()
        else:
            self._temp = value
            self._rise = self._temp_rise.add(ts, value)
        up, down = self._smoke_up, self._smoke_down_to
        if up >= 3:  # Siaga smoke is Awas when confirmed; below, confirmation is moot
            up = 4 if (self.neighbour_alarm or self._rise >= self.cfg.temp_rise_c
                       or self._temp >= self.cfg.temp_fixed_c) else 3
        if down >= 3:
            down = 4 if (self.neighbour_alarm or self._rise >= self._rise_down
                         or self._temp >= self._fixed_down) else 3
        machine = self._machine
        if (machine.pending or up > self.level or down < self.level) and machine.step(
                ts, up, down):  # else step would change nothing (hysteresis.LevelMachine)
            self.level = machine.level
            self.score = (self.level - 1) / 3.0
            return True
        return False

    def metrics(self) -> dict[str, float]:
        return {"smoke_ppm": self._smoke, "smoke_rate_ppm_min": self._rate,
                "temp_c": self._temp, "temp_rise_c": self._rise}

    def explain(self, previous: int) -> Explanation:
        ms = [Metric("smoke_ppm", "Asap", "Smoke", "ppm", self._smoke, self.cfg.smoke)]
        note_id = note_en = ""
        if self.level == 4:
            if self.neighbour_alarm:
                note_id, note_en = "; dikonfirmasi node asap tetangga", \
                    "; confirmed by a neighbouring smoke node"
            else:
                note_id = f"; dikonfirmasi suhu {fmt(self._temp)} C (naik {fmt(self._rise)} C)"
                note_en = f"; confirmed by temperature {fmt(self._temp)} C " \
                          f"(rise {fmt(self._rise)} C)"
        elif self.level > previous and level_of(self._smoke, self.cfg.smoke) < self.level:
            return Explanation(
                f"Asap naik cepat {fmt(self._rate)} ppm/menit (ambang "
                f"{fmt(self.cfg.rate_waspada_ppm_min)})",
                f"Smoke rising fast at {fmt(self._rate)} ppm/min (threshold "
                f"{fmt(self.cfg.rate_waspada_ppm_min)})",
                self.metrics(), {"smoke_rate_ppm_min": self.cfg.rate_waspada_ppm_min},
                "smoke", self.cfg.rate_window_s)
        e = explain(ms, self.level, previous, channel="smoke", window_s=self.cfg.rate_window_s,
                    note_id=note_id, note_en=note_en)
        e.values.update({k: v for k, v in self.metrics().items() if not math.isnan(v)})
        return e

    def batch(self, ts: FloatArray, channels: StrArray, values: FloatArray,
              neighbour: np.ndarray | None = None) -> BatchResult:
        n = len(ts)
        cfg = self.cfg
        s_rows = np.flatnonzero(channels == "smoke")
        t_rows = np.flatnonzero(channels == "temp")
        smoke = spread_float(n, s_rows, values[s_rows], math.nan)
        rate = spread_float(n, s_rows, window_rates(ts[s_rows], values[s_rows],
                                                    cfg.rate_window_s, MINUTE))
        temp = spread_float(n, t_rows, values[t_rows], math.nan)
        rise = spread_float(n, t_rows, window_rates(ts[t_rows], values[t_rows],
                                                    cfg.temp_window_s, cfg.temp_window_s))
        nb = neighbour if neighbour is not None else np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            up = _level_v(levels_of(smoke, cfg.smoke), rate >= cfg.rate_waspada_ppm_min,
                          nb | (rise >= cfg.temp_rise_c) | (temp >= cfg.temp_fixed_c))
            down = _level_v(levels_of(smoke, self._smoke_down), rate >= self._rate_down,
                            nb | (rise >= self._rise_down) | (temp >= self._fixed_down))
        rows = np.flatnonzero((channels == "smoke") | (channels == "temp"))
        lv = run_levels(ts[rows], up[rows], down[rows], cfg.min_duration_s,
                        cfg.clear_after_s)
        levels = spread(n, rows, lv)
        metrics = {"smoke_ppm": smoke, "smoke_rate_ppm_min": rate, "temp_c": temp,
                   "temp_rise_c": rise}
        return BatchResult(levels, hazard_score(levels), metrics)


def _level_v(smoke_level: np.ndarray, rising: np.ndarray, confirmed: np.ndarray) -> np.ndarray:
    cand = np.maximum(smoke_level, np.where(rising, 2, 1))
    return np.where(cand >= 3, np.where(confirmed, 4, 3), cand).astype(np.int8)
