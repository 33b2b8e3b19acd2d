"""The labelled anomaly corpus and its window scorer."""

import numpy as np
import pytest

from siaga.analytics.config import AnomalyConfig
from siaga.simulators.anomaly_corpus import KINDS, Series, corpus
from siaga.simulators.anomaly_eval import KindScore, evaluate, format_table, score_series


def test_corpus_has_sixty_plus_series_of_ten_kinds_with_windows_inside():
    series = corpus()
    assert len(series) >= 60 and {s.kind for s in series} == set(KINDS) and len(KINDS) >= 8
    for s in series:
        assert len(s.ts) == len(s.values) and np.all(np.diff(s.ts) > 0)
        assert (s.ts[-1] - s.ts[0]) / 86400 >= 3.9
        assert s.windows and all(0 < a < b <= len(s.values) for a, b in s.windows)
    gaps = [s for s in series if s.kind == "gaps"]
    assert all(np.diff(s.ts).max() >= 3600 for s in gaps)
    again = corpus()
    assert all(np.array_equal(a.values, b.values) for a, b in zip(series, again, strict=True))


def test_scorer_rewards_early_hits_and_counts_false_flags_outside_windows():
    s = Series("spike", "t", np.arange(100.0), np.zeros(100), ((50, 60),))
    scores = np.zeros(100)
    scores[[5, 30, 31, 52, 70]] = 0.999  # 5 is probationary (first 15 %)
    k = KindScore("spike")
    score_series(s, scores, 0.99, k)
    assert (k.windows, k.detected, k.delay) == (1, 1, 2.0)
    assert k.false_rows == 3 and k.false_onsets == 2 and k.quiet == 100 - 15 - 10
    late = KindScore("spike")
    scores[52] = 0.0
    scores[59] = 0.999
    score_series(s, scores, 0.99, late)
    assert late.reward < k.reward
    missed = KindScore("spike")
    score_series(s, np.zeros(100), 0.99, missed)
    assert missed.detected == 0 and missed.normalised == 0.0


@pytest.mark.parametrize("per_kind", [1])
def test_evaluation_table_lists_every_kind(per_kind):
    rows = evaluate(AnomalyConfig(), seed=3, per_kind=per_kind)
    assert [r.kind for r in rows] == [*KINDS, "all"]
    assert rows[-1].windows == sum(r.windows for r in rows[:-1])
    text = format_table(rows, markdown=True)
    assert text.count("\n") == len(rows) + 1 and "| drift |" in text
