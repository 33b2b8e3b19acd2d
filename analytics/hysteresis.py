"""Levels from thresholds with hysteresis, and the debounce state machine; streaming and batch.

A detector turns its metrics into two candidate levels per reading: ``up``, the level the
metrics reach against the thresholds, and ``down``, the level they still hold against the
thresholds lowered by the hysteresis (so ``down >= up``). The machine moves up when
``up > level`` once that has held for ``min_duration_s``, and down when ``down < level``
once that has held for ``clear_after_s`` (timed from the first reading that wanted the
move, decided as ``ts >= since + duration``): a slow all-clear stops a value hovering at
a threshold from raising an alert every other reading.
The batch form walks runs of constant (up, down) and gives the same levels.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from siaga.analytics.config import LevelThresholds

FloatArray = npt.NDArray[np.float64]
LevelArray = npt.NDArray[np.int8]


def lowered(t: LevelThresholds, fraction: float = 0.0, absolute: float = 0.0) -> LevelThresholds:
    """Thresholds moved towards normal by the hysteresis (relative and/or absolute)."""
    def move(x: float) -> float:
        if math.isinf(x):
            return x
        return x + abs(x) * fraction + absolute if t.below else x - abs(x) * fraction - absolute
    return LevelThresholds(move(t.waspada), move(t.siaga), move(t.awas), below=t.below)


def level_of(x: float, t: LevelThresholds) -> int:
    a, b, c = t.waspada, t.siaga, t.awas
    if t.below:
        return 1 + (x <= a) + (x <= b) + (x <= c)
    return 1 + (x >= a) + (x >= b) + (x >= c)


def levels_of(x: FloatArray, t: LevelThresholds) -> LevelArray:
    out = np.ones(len(x), dtype=np.int8)
    for th in t.as_tuple():
        out += (x <= th) if t.below else (x >= th)
    return out


class LevelMachine:
    __slots__ = ("min_duration_s", "clear_after_s", "level", "pending", "_due")

    def __init__(self, min_duration_s: float = 0.0, clear_after_s: float | None = None,
                 level: int = 1) -> None:
        self.min_duration_s = min_duration_s
        self.clear_after_s = min_duration_s if clear_after_s is None else clear_after_s
        self.level = level
        # The move waiting for its duration: 1 up, -1 down, 0 none. With none, candidates
        # with down >= level >= up leave the machine as it is: a detector may then skip
        # ``step`` (issue 17: a call less per reading of a calm channel).
        self.pending = 0
        self._due = 0.0

    def step(self, ts: float, up: int, down: int) -> bool:
        """Feed one reading's candidates; True when the level changed."""
        lvl = self.level
        if up > lvl:
            target, d = up, 1
        elif down < lvl:
            target, d = down, -1
        else:
            self.pending = 0
            return False
        if self.pending != d:
            self.pending = d
            self._due = ts + (self.min_duration_s if d == 1 else self.clear_after_s)
        if ts >= self._due:
            self.level = target
            self.pending = 0
            return True
        return False


def run_levels(ts: FloatArray, up: LevelArray, down: LevelArray,
               min_duration_s: float = 0.0, clear_after_s: float | None = None,
               level: int = 1) -> LevelArray:
    """Batch twin of LevelMachine.step over a whole series (ts non-decreasing)."""
    n = len(ts)
    out = np.empty(n, dtype=np.int8)
    if n == 0:
        return out
    clear_s = min_duration_s if clear_after_s is None else clear_after_s
    key = up.astype(np.int16) * 8 + down
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], n]
    direction = 0
    due = 0.0
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        u = int(up[s])
        dn = int(down[s])
        i = s
        while i < e:
            if u > level:
                target, d = u, 1
            elif dn < level:
                target, d = dn, -1
            else:
                direction = 0
                out[i:e] = level
                break
            if direction != d:
                direction = d
                due = float(ts[i]) + (min_duration_s if d == 1 else clear_s)
            j = i + int(np.searchsorted(ts[i:e], due, side="left"))
            if j >= e:
                out[i:e] = level
                break
            out[i:j] = level
            level = target
            direction = 0
            out[j] = level
            i = j + 1
    return out


def forward_fill_index(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """For each position, the index of the latest True at or before it (-1 when none)."""
    idx = np.where(mask, np.arange(len(mask)), -1)
    return np.maximum.accumulate(idx) if len(idx) else idx.astype(np.int64)
