"""Landslide: rainfall intensity-duration threshold, soil saturation, ground movement rates.

Level rules (each with hysteresis; see docs/detectors.md):
- rain event above the I-D (or E-D) curve (ratio I / (a D^-b) >= 1)      -> Waspada
  or, where the curve has one, above its cumulative antecedent threshold
  (P_short + w P_long >= short_mm, while an event runs: a wet fortnight lowers the
  rain needed)
- that, with soil wetter than ``soil_wet`` (relative saturation)         -> Siaga
  (a site with a fitted threshold, ``rain_level``: rain alone gives that level, counted
  without a ground sensor; wet soil adds one, up to Siaga)
- extensometer / tilt rate ladders                                        -> up to Awas
- movement at Siaga or above while the rain threshold is exceeded         -> Awas
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TypeVar

import numpy as np

from siaga.analytics.config import LandslideConfig, LevelThresholds, SoilCalibration
from siaga.analytics.detector import BatchResult, StrArray, hazard_score
from siaga.analytics.detectors.rain import spread_float
from siaga.analytics.detectors.threshold import spread
from siaga.analytics.explain import Explanation, Metric, explain, fmt
from siaga.analytics.hysteresis import (
    FloatArray,
    LevelMachine,
    forward_fill_index,
    level_of,
    levels_of,
    lowered,
    run_levels,
)
from siaga.analytics.rainfall_thresholds import AntecedentThreshold, IDCurve
from siaga.analytics.windows import WindowRate, WindowSum, sums_at, window_rates
from siaga.firmware_bridge.vocabulary import Level

HOUR = 3600.0
Rain = TypeVar("Rain", float, FloatArray)


def antecedent_ratio(short_mm: Rain, long_mm: Rain, ante: AntecedentThreshold) -> Rain:
    """(P_short + w P_long) / short_mm: 1 on the cumulative threshold line."""
    return (short_mm + ante.long_weight * long_mm) / ante.short_mm


def interval_start(ts: Rain, previous: Rain, gap_s: float) -> Rain:
    """When the rain of a gauge reading at ``ts`` began to fall: a counter's increment is
    the rain since its previous reading, so the interval starts there (a daily total at
    the day's start, as calibrate-rain counts an event's duration); a previous reading
    more than the dry gap back means a gauge that reports only when it tips, whose rain
    is placed at the reading itself."""
    return np.where(ts - previous <= gap_s, previous, ts) if isinstance(ts, np.ndarray) else (
        previous if ts - previous <= gap_s else ts)


def id_ratio(event_mm: float, duration_h: float, curve: IDCurve) -> float:
    """Mean event intensity over the curve's threshold intensity at that duration."""
    d = min(max(duration_h, curve.d_min_h), curve.d_max_h)
    threshold: float = curve.a * d ** curve.intensity_exponent
    return event_mm / d / threshold


class LandslideDetector:
    name = "landslide"
    hazard = "landslide"
    channels = frozenset({"rain", "vwc", "ext", "tilt"})

    def __init__(self, cfg: LandslideConfig, curve: IDCurve, soil: SoilCalibration,
                 rain_level: int | None = None) -> None:
        self.cfg = cfg
        self._rain_level = rain_level or 2
        self.curve = curve
        self.soil = soil
        h = cfg.hysteresis_fraction
        self._r_down = 1.0 - h
        self._ext_down = lowered(cfg.ext_rate_mm_h, h)
        self._tilt_down = lowered(cfg.tilt_rate_deg_h, h)
        self._machine = LevelMachine(cfg.min_duration_s, cfg.clear_after_s)
        self._total = 0.0
        self._last_rain = -math.inf
        self._last_gauge = -math.inf  # the rain channel's previous reading, wet or not
        # The event definition the curve was fitted with, else the detector's.
        self._gap = curve.dry_gap_s or cfg.dry_gap_s
        self._start = 0.0
        self._c0 = 0.0
        self._sat = math.nan
        self._ext = WindowRate(cfg.rate_window_s, HOUR)
        self._tilt = WindowRate(cfg.rate_window_s, HOUR)
        self._ext_rate = 0.0
        self._tilt_rate = 0.0
        self._ratio = 0.0
        self._event_mm = 0.0
        ante = curve.antecedent
        self._ante = ante
        self._short = WindowSum(ante.short_s if ante else 1.0)
        self._span = WindowSum(ante.total_s if ante else 1.0)
        self._p_short = self._p_long = self._ante_ratio = 0.0
        # Rain alone says nothing about a slope we do not instrument: the rain rungs count
        # only once the node has reported a ground channel (a plain rain gauge is `rain`),
        # unless the site's threshold was fitted to its own landslides.
        self._rain_alone = rain_level is not None
        self._ground = self._rain_alone
        self._wet_down = cfg.soil_wet - cfg.soil_hysteresis
        self._move_up = self._move_down = 1
        self._movement()
        self.level = 1
        self.score = 0.0

    def _movement(self) -> None:
        """Movement's level on the rate ladders and on their lowered form. Only an ext or
        tilt reading changes a rate, so the other channels' readings reuse these
        (issue 17: four ``level_of`` calls less per vwc or rain reading; with ``level`` an
        attribute, a vwc update went 1.49 -> 0.70 us CPU)."""
        cfg = self.cfg
        self._move_up = max(level_of(self._ext_rate, cfg.ext_rate_mm_h),
                            level_of(self._tilt_rate, cfg.tilt_rate_deg_h))
        self._move_down = max(level_of(self._ext_rate, self._ext_down),
                              level_of(self._tilt_rate, self._tilt_down))

    def update(self, ts: float, channel: str, value: float) -> bool:
        if channel == "rain":
            if value != 0.0:
                if ts - self._last_rain > self._gap:
                    self._start = interval_start(ts, self._last_gauge, self._gap)
                    self._c0 = self._total
                self._last_rain = ts
                self._total += value
                self._short.add(ts, value)
                self._span.add(ts, value)
            self._last_gauge = ts
        else:
            self._ground = True
        if channel == "vwc":
            self._sat = (value - self.soil.field_capacity) / (
                self.soil.saturation - self.soil.field_capacity)
        elif channel == "ext":
            self._ext_rate = abs(self._ext.add(ts, value))
            self._movement()
        elif channel == "tilt":
            self._tilt_rate = abs(self._tilt.add(ts, value))
            self._movement()
        active = ts - self._last_rain <= self._gap
        if active:
            self._event_mm = self._total - self._c0
            self._ratio = id_ratio(self._event_mm, (ts - self._start) / HOUR, self.curve)
        else:
            self._event_mm = 0.0
            self._ratio = 0.0
        if self._ante is not None:
            self._p_short = self._short.value(ts)
            self._p_long = self._span.value(ts) - self._p_short
            self._ante_ratio = (antecedent_ratio(self._p_short, self._p_long, self._ante)
                                if active else 0.0)
        if active or not self._r_down > 0.0:
            r = max(self._ratio, self._ante_ratio) if self._ground else 0.0
            s = self._sat
            up = _combine(r >= 1.0, s >= self.cfg.soil_wet, self._rain_level, self._move_up)
            down = _combine(r >= self._r_down, s >= self._wet_down, self._rain_level,
                            self._move_down)
        else:
            # No rain event: r is 0, below both rain rungs, and _combine gives the movement
            # levels whatever the soil (issue 17: most vwc readings).
            up, down = self._move_up, self._move_down
        machine = self._machine
        if (machine.pending or up > self.level or down < self.level) and machine.step(
                ts, up, down):  # else step would change nothing (hysteresis.LevelMachine)
            self.level = machine.level
            self.score = (self.level - 1) / 3.0
            return True
        return False

    def metrics(self) -> dict[str, float]:
        return {"id_ratio": self._ratio, "event_rain_mm": self._event_mm,
                "antecedent_ratio": self._ante_ratio, "rain_short_mm": self._p_short,
                "rain_long_mm": self._p_long,
                "soil_saturation": self._sat, "ext_rate_mm_h": self._ext_rate,
                "tilt_rate_deg_h": self._tilt_rate}

    def explain(self, previous: int) -> Explanation:
        one = LevelThresholds(1.0)
        form = "I-D" if self.curve.kind == "ID" else "E-D"
        ms = [Metric("id_ratio", f"Rasio hujan terhadap ambang {form}",
                     f"Rainfall over {form} threshold", "x", self._ratio, one),
              Metric("ext_rate_mm_h", "Laju ekstensometer", "Extensometer rate", "mm/jam",
                     self._ext_rate, self.cfg.ext_rate_mm_h),
              Metric("tilt_rate_deg_h", "Laju kemiringan", "Tilt rate", "deg/jam",
                     self._tilt_rate, self.cfg.tilt_rate_deg_h)]
        if self._ante is not None:
            ms.insert(1, Metric("antecedent_ratio", "Rasio hujan kumulatif terhadap ambang",
                                "Cumulative rainfall over its threshold", "x",
                                self._ante_ratio, one))
        note_id = note_en = ""
        if self._sat >= self.cfg.soil_wet:
            pct = round(self._sat * 100)
            note_id = f"; tanah jenuh {pct}% (antara kapasitas lapang dan jenuh)"
            note_en = f"; soil {pct}% of the way from field capacity to saturation"
        e = explain(ms, self.level, previous, window_s=self._gap,
                    note_id=note_id, note_en=note_en)
        movement = max(level_of(self._ext_rate, self.cfg.ext_rate_mm_h),
                       level_of(self._tilt_rate, self.cfg.tilt_rate_deg_h))
        rain = max(self._ratio, self._ante_ratio)
        if self.level > previous and rain >= 1.0 and movement < self.level:
            lvl = Level(self.level).label_id
            if self._ratio >= 1.0:
                e = replace(e, text_id=f"Hujan {fmt(self._event_mm)} mm melewati ambang {form} "
                            f"(rasio {fmt(self._ratio)}){note_id}: {lvl}",
                            text_en=f"Event rainfall {fmt(self._event_mm)} mm exceeds the {form} "
                            f"threshold (ratio {fmt(self._ratio)}){note_en}: {lvl}")
            elif self._ante is not None:
                short, long = fmt(self._ante.short_days), fmt(self._ante.long_days)
                e = replace(e, text_id=(
                    f"Hujan {short} hari {fmt(self._p_short)} mm setelah hujan "
                    f"{fmt(self._p_long)} mm dalam {long} hari sebelumnya melewati ambang "
                    f"kumulatif (rasio "
                    f"{fmt(self._ante_ratio)}){note_id}: {lvl}"), text_en=(
                    f"{short}-day rainfall {fmt(self._p_short)} mm after {fmt(self._p_long)} mm "
                    f"in the {long} days before exceeds the cumulative threshold (ratio "
                    f"{fmt(self._ante_ratio)}){note_en}: {lvl}"))
        e.values.update({"event_rain_mm": self._event_mm, "soil_saturation": self._sat})
        if self._ante is not None:
            e.values.update({"rain_short_mm": self._p_short, "rain_long_mm": self._p_long})
        return e

    def batch(self, ts: FloatArray, channels: StrArray, values: FloatArray) -> BatchResult:
        n = len(ts)
        cfg = self.cfg
        rain = channels == "rain"
        nz_mask = rain & (values != 0.0)
        nz = np.flatnonzero(nz_mask)
        cs = np.cumsum(values[nz])
        before = np.r_[0.0, cs[:-1]]
        t_nz = ts[nz]
        gap = self._gap
        new_event = np.r_[True, np.diff(t_nz) > gap] if len(nz) else np.zeros(0, bool)
        t_rain = ts[rain]
        previous = np.r_[-math.inf, t_rain[:-1]][np.flatnonzero(values[rain] != 0.0)]
        start_nz = interval_start(t_nz, previous, gap)
        ev_idx = forward_fill_index(new_event)  # per nonzero: its event's first nonzero
        # Per row: position among nonzero rows of the latest nonzero row at or before it.
        latest = np.cumsum(nz_mask) - 1
        has = latest >= 0
        k = latest[has]
        ratio = np.zeros(n)
        event_mm = np.zeros(n)
        tl = t_nz[k]
        active = ts[has] - tl <= gap
        start = start_nz[ev_idx[k]]
        e_mm = np.where(active, cs[k] - before[ev_idx[k]], 0.0)
        d = np.minimum(np.maximum((ts[has] - start) / HOUR, self.curve.d_min_h),
                       self.curve.d_max_h)
        r = e_mm / d / (self.curve.a * d ** self.curve.intensity_exponent)
        ratio[has] = np.where(active, r, 0.0)
        event_mm[has] = e_mm
        p_short, p_long, ante_ratio = np.zeros(n), np.zeros(n), np.zeros(n)
        ante = self._ante
        if ante is not None:
            v_nz = values[nz]
            p_short = sums_at(t_nz, v_nz, ts, ante.short_s)
            p_long = sums_at(t_nz, v_nz, ts, ante.total_s) - p_short
            ante_ratio[has] = np.where(active, antecedent_ratio(p_short[has], p_long[has],
                                                                ante), 0.0)
        sat = self._soil_series(ts, channels, values)
        ext_rate = self._rate_series(ts, channels, values, "ext")
        tilt_rate = self._rate_series(ts, channels, values, "tilt")
        ground_rows = (channels == "vwc") | (channels == "ext") | (channels == "tilt")
        mine = rain | ground_rows
        ground = np.maximum.accumulate(ground_rows) if n else ground_rows
        if self._rain_alone:  # a fitted site: rain counts alone
            ground = np.ones(n, bool)
        ratio_for_level = np.where(ground, np.maximum(ratio, ante_ratio), 0.0)
        with np.errstate(invalid="ignore"):
            up = _combine_v(ratio_for_level >= 1.0, sat >= cfg.soil_wet, self._rain_level,
                            np.maximum(levels_of(ext_rate, cfg.ext_rate_mm_h),
                                       levels_of(tilt_rate, cfg.tilt_rate_deg_h)))
            down = _combine_v(ratio_for_level >= self._r_down,
                              sat >= cfg.soil_wet - cfg.soil_hysteresis, self._rain_level,
                              np.maximum(levels_of(ext_rate, self._ext_down),
                                         levels_of(tilt_rate, self._tilt_down)))
        rows = np.flatnonzero(mine)
        lv = run_levels(ts[rows], up[rows], down[rows], cfg.min_duration_s,
                        cfg.clear_after_s)
        levels = spread(n, rows, lv)
        metrics = {"id_ratio": ratio, "event_rain_mm": event_mm,
                   "antecedent_ratio": ante_ratio, "rain_short_mm": p_short,
                   "rain_long_mm": p_long, "soil_saturation": sat,
                   "ext_rate_mm_h": ext_rate, "tilt_rate_deg_h": tilt_rate}
        # Metrics on rows of other channels hold the last value computed on this detector's rows.
        metrics = {k: spread_float(n, rows, v[rows], math.nan if k == "soil_saturation" else 0.0)
                   for k, v in metrics.items()}
        return BatchResult(levels, hazard_score(levels), metrics)

    def _soil_series(self, ts: FloatArray, channels: StrArray, values: FloatArray) -> FloatArray:
        rows = np.flatnonzero(channels == "vwc")
        s = (values[rows] - self.soil.field_capacity) / (
            self.soil.saturation - self.soil.field_capacity)
        return spread_float(len(ts), rows, s, math.nan)

    def _rate_series(self, ts: FloatArray, channels: StrArray, values: FloatArray,
                     channel: str) -> FloatArray:
        rows = np.flatnonzero(channels == channel)
        r = np.abs(window_rates(ts[rows], values[rows], self.cfg.rate_window_s, HOUR))
        return spread_float(len(ts), rows, r, 0.0)


def _combine(rain: bool, wet: bool, rain_level: int, movement: int) -> int:
    rain_soil = min(rain_level + wet, 3) if rain else 1
    if movement >= 3 and rain_soil >= 2:
        return 4
    return max(rain_soil, movement)


def _combine_v(rain: np.ndarray, wet: np.ndarray, rain_level: int,
               movement: np.ndarray) -> np.ndarray:
    rain_soil = np.where(rain, np.minimum(rain_level + wet.astype(np.int8), 3), 1)
    out = np.maximum(rain_soil, movement)
    return np.where((movement >= 3) & (rain_soil >= 2), 4, out).astype(np.int8)
