"""Score the anomaly detector on the generated corpus, window by window.

    python -m siaga.simulators.anomaly_eval [--seed 11] [--per-kind 8] [--threshold T]
                                            [--markdown]

In the style of the Numenta Anomaly Benchmark (Lavin & Ahmad 2015): one threshold for
the whole corpus; a window counts as detected by its first flagged reading, rewarded by
NAB's scaled sigmoid of how early in the window that came (1 at the onset, 0 at the
window's end); a flag outside every window is a false positive (reward -1, NAB's
standard profile weights them 0.11 against 1 for a miss, we weight them fully). The
first 15 % of every series is probationary (NAB's rule): nothing there is scored.
Reported per kind: windows detected, mean delay in readings, false flags per 10,000
quiet readings (flagged readings outside windows, and separately the flag onsets an
operator would see as alerts), and the normalised score (100 = every window at its
onset and no false flag, 0 = flagging nothing).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np

from siaga.analytics.config import AnomalyConfig
from siaga.analytics.detectors.anomaly_batch import anomaly_p
from siaga.simulators.anomaly_corpus import KINDS, Series, corpus

PROBATION = 0.15


@dataclass(slots=True)
class KindScore:
    kind: str
    series: int = 0
    windows: int = 0
    detected: int = 0
    delay_sum: float = 0.0
    quiet: int = 0
    false_rows: int = 0
    false_onsets: int = 0
    reward: float = 0.0
    perfect: float = 0.0

    @property
    def rate(self) -> float:
        return self.detected / self.windows if self.windows else math.nan

    @property
    def per_10k(self) -> float:
        return 1e4 * self.false_rows / max(self.quiet, 1)

    @property
    def onsets_per_10k(self) -> float:
        return 1e4 * self.false_onsets / max(self.quiet, 1)

    @property
    def delay(self) -> float:
        return self.delay_sum / self.detected if self.detected else math.nan

    @property
    def normalised(self) -> float:
        return 100.0 * (self.reward + self.windows) / (self.perfect + self.windows)


def sigmoid_reward(position: int, length: int) -> float:
    """NAB's scaled sigmoid: y from -1 (window start) to 0 (window end)."""
    y = -1.0 + position / max(length, 1)
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def score_series(s: Series, scores: np.ndarray, threshold: float, into: KindScore) -> None:
    n = len(scores)
    start = int(PROBATION * n)
    flag = scores >= threshold
    inside = np.zeros(n, dtype=bool)
    into.series += 1
    for a, b in s.windows:
        inside[a:b] = True
        into.windows += 1
        into.perfect += sigmoid_reward(0, b - a)
        hits = np.flatnonzero(flag[a:b])
        if len(hits):
            into.detected += 1
            into.delay_sum += int(hits[0])
            into.reward += sigmoid_reward(int(hits[0]), b - a)
        else:
            into.reward -= 1.0
    quiet = ~inside
    quiet[:start] = False
    false = flag & quiet
    onsets = false & ~np.r_[False, flag[:-1]]
    into.quiet += int(quiet.sum())
    into.false_rows += int(false.sum())
    into.false_onsets += int(onsets.sum())
    into.reward -= float(false.sum())


def evaluate(cfg: AnomalyConfig, seed: int = 11, per_kind: int = 8) -> list[KindScore]:
    rows = {k: KindScore(k) for k in KINDS}
    for s in corpus(seed, per_kind):
        p = anomaly_p(cfg, s.ts, s.values)
        scores = np.where(p < 1.0, (1.0 - p) ** 3, 0.0)
        score_series(s, scores, cfg.threshold, rows[s.kind])
    total = KindScore("all")
    for r in rows.values():
        for f in ("series", "windows", "detected", "delay_sum", "quiet", "false_rows",
                  "false_onsets", "reward", "perfect"):
            setattr(total, f, getattr(total, f) + getattr(r, f))
    return [*rows.values(), total]


def format_table(rows: list[KindScore], markdown: bool = False) -> str:
    head = ("kind", "series", "windows", "detected", "mean delay (readings)",
            "false flags / 10k quiet", "false onsets / 10k quiet", "NAB-style score")
    lines = []
    for r in rows:
        lines.append((r.kind, str(r.series), str(r.windows), f"{100 * r.rate:.0f} %",
                      f"{r.delay:.1f}", f"{r.per_10k:.2f}", f"{r.onsets_per_10k:.2f}",
                      f"{r.normalised:.1f}"))
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join(fmt.format(*line) for line in [head, *lines])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m siaga.simulators.anomaly_eval",
                                description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--per-kind", type=int, default=8)
    p.add_argument("--threshold", type=float, help="flag threshold (default: the config's)")
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args(argv)
    cfg = AnomalyConfig() if a.threshold is None else AnomalyConfig(threshold=a.threshold)
    print(format_table(evaluate(cfg, a.seed, a.per_kind), a.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
