"""One-line explanations of a level change, in Indonesian and English, from the metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from siaga.analytics.config import LevelThresholds
from siaga.analytics.hysteresis import level_of
from siaga.firmware_bridge.vocabulary import Level


@dataclass(frozen=True, slots=True)
class Metric:
    """A named quantity that decides a level, with its thresholds."""

    key: str  # values/thresholds key, e.g. "rain_3h_mm"
    name_id: str  # "Curah hujan 3 jam"
    name_en: str  # "3-hour rainfall"
    unit: str
    value: float
    thresholds: LevelThresholds


@dataclass(frozen=True, slots=True)
class Explanation:
    text_id: str
    text_en: str
    values: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    channel: str | None = None
    window_s: float = 0.0


def fmt(x: float) -> str:
    if math.isinf(x) or math.isnan(x):
        return str(x)
    s = f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}" if abs(x) < 100 else f"{x:.0f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def _unit(u: str) -> str:
    return u if u in ("%",) else f" {u}" if u else ""


def _closeness(m: Metric, level: int) -> float:
    th = m.thresholds.as_tuple()[level - 2]
    if th == 0:
        return 0.0
    return th / m.value if m.thresholds.below and m.value else m.value / th


def explain(metrics: list[Metric], level: int, previous: int, *, channel: str | None = None,
            window_s: float = 0.0, note_id: str = "", note_en: str = "") -> Explanation:
    values = {m.key: m.value for m in metrics if not math.isnan(m.value)}
    ths: dict[str, float] = {}
    for m in metrics:
        for name, th in zip(("waspada", "siaga", "awas"), m.thresholds.as_tuple(), strict=True):
            if not math.isinf(th):
                ths[f"{m.key}_{name}"] = th
    known = [m for m in metrics if not math.isnan(m.value)]
    if not known:
        lvl = Level(level)
        return Explanation(f"Level {lvl.label_id}{note_id}", f"Level {lvl.label_id}{note_en}",
                           values, ths, channel, window_s)
    if level > previous:
        m = max(known, key=lambda k: level_of(k.value, k.thresholds))
        shown = max(level_of(m.value, m.thresholds), 2)
        verb_id, verb_en = "melewati ambang", "exceeds the"
    else:
        # The metric that most plausibly held the old level: one with a rung at it.
        rung = [k for k in known if not math.isinf(k.thresholds.as_tuple()[previous - 2])]
        if not rung:
            now = Level(level).label_id
            return Explanation(f"Level turun ke {now}{note_id}", f"Level down to {now}{note_en}",
                               values, ths, channel, window_s)
        m = max(rung, key=lambda k: (level_of(k.value, k.thresholds), _closeness(k, previous)))
        shown = previous
        verb_id = "kembali di bawah ambang" if not m.thresholds.below else "kembali di atas ambang"
        verb_en = "is back below the" if not m.thresholds.below else "is back above the"
    th = m.thresholds.as_tuple()[shown - 2]
    u = _unit(m.unit)
    name = Level(shown).label_id
    text_id = f"{m.name_id} {fmt(m.value)}{u} {verb_id} {name} {fmt(th)}{u}"
    text_en = f"{m.name_en} {fmt(m.value)}{u} {verb_en} {name} threshold of {fmt(th)}{u}"
    if level < previous:
        text_id += f"; level turun ke {Level(level).label_id}"
        text_en += f"; level down to {Level(level).label_id}"
    return Explanation(text_id + note_id, text_en + note_en, values, ths, channel, window_s)
