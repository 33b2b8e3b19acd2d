"""The calibrated anomaly score: its meaning on quiet data, what it finds, both forms alike."""

import math

import numpy as np
import pytest
from scipy import stats

from siaga.analytics.config import AnomalyConfig
from siaga.analytics.detectors.anomaly import AnomalyDetector
from siaga.analytics.detectors.anomaly_batch import anomaly_p
from siaga.analytics.detectors.anomaly_calibration import score_of, t_units
from siaga.analytics.engine import EdgeAnalytics
from siaga.analytics.rolling_median import median_of_sorted, sorted_mad
from tests.unit.analytics.readings import T0, reading

DAY = 86400.0


def scores(x, dt=60.0, cfg=None):
    x = np.asarray(x, dtype=float)
    return score_of(anomaly_p(cfg or AnomalyConfig(), T0 + np.arange(len(x)) * dt, x))


def stream(x, dt=60.0, cfg=None):
    d = AnomalyDetector("temp", cfg or AnomalyConfig())
    out = []
    for i, v in enumerate(np.asarray(x, dtype=float).tolist()):
        d.update(T0 + i * dt, "temp", v)
        out.append((d.score, d.level, d.test))
    return out


@pytest.mark.parametrize("noise", ["normal", "student3", "laplace"])
def test_quiet_noise_rarely_reaches_099_whatever_its_tails(noise):
    rng = np.random.default_rng(3)
    n = 20_000
    x = {"normal": rng.normal(size=n), "student3": rng.standard_t(3, n),
         "laplace": rng.laplace(size=n)}[noise]
    s = scores(20 + 0.3 * x)
    assert (s >= 0.99).mean() <= 0.015  # 0.99 means rarer than 1 in 100
    assert (s >= 0.999).mean() <= 0.0015


def test_spike_test_reads_residuals_in_the_t_laws_own_units():
    # sigma is normal-consistent (1.4826 MAD); a t law with the same MAD has a scale
    # smaller by its quartile over the normal's.
    for df in (0.5, 3.0, 5.0, 30.0):
        cfg = AnomalyConfig(tail_df=df)
        assert t_units(cfg) == pytest.approx(stats.t.ppf(0.75, df) / stats.norm.ppf(0.75))


def test_a_10_sigma_spike_in_gaussian_noise_is_flagged():
    # In the normal's units a 10 sigma spike scored 0.984-0.990 about once in six.
    rng = np.random.default_rng(8)
    rows = np.arange(400, 3000, 200)
    found = 0
    for _ in range(4):
        x = rng.normal(size=3000)
        x[rows] += 10.0 * rng.choice((-1.0, 1.0), len(rows))
        found += int((scores(x)[rows] >= 0.99).sum())
    assert found >= 0.9 * 4 * len(rows)


def test_score_does_not_depend_on_scale_or_offset():
    rng = np.random.default_rng(4)
    x = rng.normal(size=3000)
    x[2000] += 12
    x[2500:] += 5
    a = scores(x)
    b = scores(1000.0 * x - 7e4)
    assert np.allclose(a, b, atol=1e-9)
    assert a[2000] >= 0.99 and a[2500:2503].max() >= 0.99


def test_flat_quantised_series_flags_a_real_step_not_its_last_digit():
    rng = np.random.default_rng(5)
    n = 4000
    flicker = np.where(rng.random(n) < 0.03, rng.choice([-0.1, 0.1], n), 0.0)
    x = np.round(31.0 + flicker, 1)  # a 0.1-resolution sensor, mostly on one value
    x[3000:] += 1.0  # ten steps of its resolution
    s = scores(x)
    assert (s[100:3000] >= 0.99).sum() == 0
    assert s[3000:3003].max() >= 0.99


def test_a_quantised_walk_moving_two_last_digits_is_not_a_level_anomaly():
    """Regression (issue 11, seed 13 of the corpus): the level test's spread floor came
    from the residual spread alone, so on a quantised sensor two single steps half an
    hour apart scored 0.99997; its resolution now sets the floor."""
    n = 4 * 1440
    ts = T0 + 60.0 * np.arange(n)
    x = np.full(n, 20.0)
    x[100] = 20.1  # one flicker: the resolution is 0.1
    x[3 * 1440:] += 0.1
    x[3 * 1440 + 30:] += 0.1
    s = score_of(anomaly_p(AnomalyConfig(), ts, x))
    assert s[2 * 1440:].max() < 0.99
    x[3 * 1440 + 600:] += 0.6  # six steps at once are still found
    s = score_of(anomaly_p(AnomalyConfig(), ts, x))
    assert s[3 * 1440 + 600:3 * 1440 + 605].max() >= 0.99


def test_a_growing_noise_is_found_by_the_spread_cusum_before_the_spread_adapts():
    found, by_spread = 0, 0
    for seed in range(6):
        x = np.random.default_rng(seed).normal(0, 1, 3000)
        x[2000:2300] *= 4
        out = stream(x)
        assert max(score for score, _, _ in out[100:2000]) < 0.99
        flags = [test for score, _, test in out[2000:2040] if score >= 0.99]
        found += bool(flags)
        by_spread += "spread" in flags
    assert found >= 5 and by_spread >= 3


def test_constant_series_is_not_judged_before_it_ever_moves():
    s = scores(np.full(500, 20.0))
    assert (s == 0).all()


def test_daily_cycle_learned_and_removed_spike_found_in_it():
    rng = np.random.default_rng(6)
    t = np.arange(5 * 288) * 300.0  # five days of 5-minute readings
    x = 25 + 4 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 0.3, len(t))
    spike = 4 * 288 + 100
    x[spike] += 4.0  # 13 sigma, but inside the day's range
    s = scores(x, dt=300.0)
    assert s[spike] >= 0.99
    later = np.r_[2 * 288:spike, spike + 1:len(x)]
    assert (s[later] >= 0.99).sum() == 0


def test_shift_is_flagged_at_once_and_then_learned():
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, 4000)
    x[2000:] += 6
    res = stream(x)
    s = np.array([r[0] for r in res])
    assert s[2000:2003].max() >= 0.99 and max(r[1] for r in res[2000:2003]) == 2
    assert (s[2000 + 3 * 63:] >= 0.99).sum() == 0  # the CUSUM reset, the level relearned


def test_slow_drift_is_found_by_the_level_test():
    rng = np.random.default_rng(8)
    n = 4 * 1440
    x = rng.normal(0, 1, n)
    start = 3 * 1440
    x[start:] += np.minimum(np.arange(n - start) / 300.0, 1.0) * 12  # 12 sigma in 300
    res = stream(x)
    hits = [i for i, (s, _, _) in enumerate(res) if s >= 0.99]
    assert hits and start < hits[0] < start + 300
    assert res[hits[0]][2] in ("level", "shift")
    assert not [i for i in hits if 2 * 1440 <= i < start]


def test_streaming_equals_batch_across_restarts_gaps_and_a_profile():
    rng = np.random.default_rng(9)
    n = 5000
    ts = T0 + np.cumsum(rng.choice([60.0, 60.0, 60.0, 3600.0], n, p=[0.5, 0.3, 0.199, 0.001]))
    x = 10 + 3 * np.sin(2 * np.pi * ts / DAY) + rng.normal(0, 0.5, n)
    x[1500] += 20
    x[2500:] -= 8
    x[3500:4000] += np.linspace(0, 10, 500)
    x = np.round(x, 2)
    p = anomaly_p(AnomalyConfig(), ts, x)
    d = AnomalyDetector("temp", AnomalyConfig())
    got = []
    for t, v in zip(ts.tolist(), x.tolist(), strict=True):
        d.update(t, "temp", v)
        got.append(d.p)
    assert np.max(np.abs(np.array(got) - p)) < 1e-9
    assert (score_of(p) >= 0.99).sum() >= 3


def test_engine_alert_names_the_test_and_the_odds():
    eng = EdgeAnalytics({"anomaly": {"emit_alerts": True}})
    rng = np.random.default_rng(10)
    alerts = []
    for i, v in enumerate(20 + rng.normal(0, 0.2, 300)):
        alerts += eng.process(reading("n", "temp", float(v) + (5 if i == 250 else 0),
                                      T0 + 60 * i))
    [a] = [a for a in alerts if a.detector == "anomaly:temp" and a.level == 2]
    assert "spike test" in a.explanation_en and "rarer than 1 in" in a.explanation_en
    assert a.values["score"] >= 0.99 and a.thresholds["threshold"] == 0.99


def test_sorted_mad_equals_sorting_all_deviations():
    rng = np.random.default_rng(11)
    for _ in range(3000):
        n = int(rng.integers(1, 40))
        s = sorted(np.where(rng.random(n) < 0.5, rng.integers(0, 4, n),
                            rng.normal(0, 2, n)).tolist())
        med = median_of_sorted(s)
        assert sorted_mad(s, med) == median_of_sorted(sorted(abs(v - med) for v in s))


def test_score_of_is_one_minus_the_sidak_p():
    p = np.array([1.0, 0.5, 0.01, 1e-20])
    assert score_of(p)[0] == 0.0
    assert score_of(p)[2] == pytest.approx((1 - 0.01) ** 3)
    assert score_of(p)[3] == 1.0 and math.isfinite(score_of(p)[1])


@pytest.mark.parametrize("kind", ["huge", "one_extreme", "tiny"])
def test_extreme_values_give_defined_scores_in_both_forms(kind):
    rng = np.random.default_rng(12)
    x = {"huge": rng.normal(0, 1e300, 400),
         "one_extreme": np.r_[rng.normal(0, 1, 200), 1e308, -1e308, rng.normal(0, 1, 200)],
         "tiny": rng.normal(0, 1e-300, 400)}[kind]
    ts = T0 + 60.0 * np.arange(len(x))
    p = anomaly_p(AnomalyConfig(), ts, x)
    d = AnomalyDetector("temp", AnomalyConfig())
    got = []
    for t, v in zip(ts.tolist(), x.tolist(), strict=True):
        d.update(t, "temp", v)
        got.append(d.p)
    assert np.all((p >= 0) & (p <= 1)) and np.allclose(p, got, rtol=0, atol=1e-9)
    if kind == "one_extreme":
        assert p[200] < 0.001
