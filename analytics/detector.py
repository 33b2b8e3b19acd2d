"""The Detector protocol every analytics detector follows, and its batch result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from siaga.analytics.explain import Explanation
from siaga.analytics.hysteresis import FloatArray, LevelArray

StrArray = npt.NDArray[np.str_]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Per input row: the detector's level and score after that row, and its metrics."""

    levels: LevelArray
    scores: FloatArray
    metrics: dict[str, FloatArray] = field(default_factory=dict)


class Detector(Protocol):
    """One detector for one node (or zone). Streaming and batch forms give the same levels.

    ``update`` is fed only valid readings (finite value, not older than the last reading
    of that node/channel, channel not under a sensor fault) of the channels it names;
    it returns True when ``level`` changed. ``batch`` takes one node's rows in time order,
    all channels mixed, applies the same rules, and leaves other channels' rows at the
    current level.
    """

    name: str
    hazard: str
    channels: frozenset[str]

    @property
    def level(self) -> int: ...

    @property
    def score(self) -> float: ...

    def update(self, ts: float, channel: str, value: float) -> bool: ...

    def metrics(self) -> dict[str, float]: ...

    def explain(self, previous: int) -> Explanation: ...

    def batch(self, ts: FloatArray, channels: StrArray, values: FloatArray) -> BatchResult: ...


def rows_of(channels: StrArray, names: frozenset[str]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(len(channels), dtype=bool)
    for n in names:
        mask |= channels == n
    return mask


def hazard_score(levels: LevelArray) -> FloatArray:
    """Score of a hazard detector: its level mapped onto [0, 1]."""
    return (levels.astype(np.float64) - 1.0) / 3.0
