"""The streaming anomaly score's fast path (issue 17) against its plain form, bit for bit.

``AnomalyDetector.update`` and ``DailyProfile.update`` were rewritten for their cost per
reading: constants read once, ``min``/``max`` written out as the builtins' comparisons, the
level machine stepped only when a move is wanted, the window's MAD walked from the last
window's answer, and p left pending on a quiet reading (its statistics below
``quiet_limits``) until read. ``Plain`` below is the form they had before (the formulas as
docs/detectors.md states them); every p, score, test and level must come out the same,
NaN, -0.0 and overflowing values included.
"""

from __future__ import annotations

import bisect
import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.analytics.config import AnomalyConfig
from siaga.analytics.daily_profile import DAY_S, DailyProfile, _rates
from siaga.analytics.detectors.anomaly import AnomalyDetector, _score
from siaga.analytics.detectors.anomaly_calibration import (
    CLIP_RESIDUAL,
    CLIP_SCORE,
    LEVEL_AFTER_S,
    MAD_SIGMA,
    MEAN_ABS_SIGMA,
    SIEGMUND,
    SPREAD_K,
    SPREAD_THETA,
    TESTS,
    clear_below,
    inflation,
    quiet_limits,
)
from siaga.analytics.rolling_median import median_of_sorted, middle_of_three, sorted_mad
from siaga.analytics.tail_probability import (
    normal_isf,
    normal_quantile,
    normal_sf,
    student_t_sf,
)
from tests.unit.analytics.readings import T0


class PlainProfile:
    def __init__(self, cfg: AnomalyConfig) -> None:
        self.cfg = cfg
        self.head_ts: list[float] = []
        self.head_x: list[float] = []
        self.first = math.nan
        self.alpha = self.beta = self.level = 0.0
        self.bins = [0.0] * cfg.profile_bins
        self.total = 0.0

    def update(self, ts: float, x: float) -> float:
        if len(self.head_ts) < self.cfg.warmup:
            if not self.head_ts:
                self.first = ts
            self.head_ts.append(ts)
            self.head_x.append(x)
            if len(self.head_ts) == self.cfg.warmup:
                self.alpha, self.beta = _rates(self.cfg, np.array(self.head_ts))
                self.level = float(np.mean(self.head_x))
            return x
        bins = self.cfg.profile_bins
        pos = ts % DAY_S / (DAY_S / bins) - 0.5
        lo = math.floor(pos)
        g = pos - lo
        if g >= 0.5:
            b, nb, g = int((lo + 1) % bins), int(lo % bins), 1.0 - g
        else:
            b, nb = int(lo % bins), int((lo + 1) % bins)
        p = self.bins[b]
        shape = p + g * (self.bins[nb] - p) - self.total / bins
        u = x - min(1.0, max(0.0, (ts - self.first) / DAY_S - 1.0)) * shape
        new = self.beta * (x - self.level) + (1.0 - self.beta) * p
        self.total += new - p
        self.bins[b] = new
        self.level = self.alpha * x + (1.0 - self.alpha) * self.level
        return u


class Plain(AnomalyDetector):
    def __init__(self, channel: str, cfg: AnomalyConfig) -> None:
        super().__init__(channel, cfg)
        self._profile = PlainProfile(cfg)  # type: ignore[assignment]
        self._resolution = math.inf

    def update(self, ts: float, channel: str, value: float) -> bool:
        self._value = value
        cfg, h, i = self.cfg, self._h, self._seen
        u = self._profile.update(ts, value)
        s = self._sorted
        med = median_of_sorted(s) if s else 0.0
        self._thirds.append((med, sorted_mad(s, med) if s else 0.0))
        if i == 0:
            self._first_ts = ts
        p, test = 1.0, ""
        if i >= max(cfg.warmup, 1):
            full = i >= 3 * h
            m3, a3 = self._thirds[-1]
            m2, a2 = self._thirds[-1 - h] if full else (m3, a3)
            m1, a1 = self._thirds[-1 - 2 * h] if full else (m3, a3)
            s23, s12 = (m3 - m2) / h, (m2 - m1) / h
            slope = math.copysign(min(abs(s23), abs(s12)), s23) if s23 * s12 > 0 else 0.0
            ref = m3 + slope * ((h + 1) / 2)
            local = MAD_SIGMA * (sorted((a1, a2, a3))[1] if full else a3)
            q = self._resolution if self._resolution < math.inf else 0.0
            sigma = max(local, MEAN_ABS_SIGMA * self._spread, q)
            r = u - ref
            if sigma > 0.0:
                infl = self._infl_full if full else inflation(min(i, h), False)
                scale = max(max(local * infl, MEAN_ABS_SIGMA * self._spread) / self._t_units, q)
                p, test = self._plain_tests(ts, u, ref, r / (sigma * infl), r / scale,
                                            max(sigma * self._floor, q))
            clip = CLIP_RESIDUAL * max(local, q)
            w = 1.0 / (self._scored + 1) if self._scored < self._exact else cfg.long_alpha
            self._spread = w * min(abs(r), clip) + (1.0 - w) * self._spread
            self._scored += 1
        if self._last == self._last and value != self._last:
            self._resolution = min(self._resolution, abs(value - self._last))
        self._last = value
        self._seen += 1
        self._fifo.append(u)
        bisect.insort(s, u)
        if len(s) > h:
            del s[bisect.bisect_left(s, self._fifo.popleft())]
        self._p = p
        self._test = test
        score = self._score = math.exp(len(TESTS) * math.log1p(-p)) if p < 1.0 else 0.0
        up = 2 if score >= self.cfg.threshold else 1
        changed = self._machine.step(ts, up, 2 if score >= self._clear else 1)
        self.level = self._machine.level
        return changed

    def _plain_tests(self, ts: float, u: float, ref: float, z: float, zt: float,
                     floor: float) -> tuple[float, str]:
        cfg = self.cfg
        half = student_t_sf(cfg.tail_df, abs(z))
        spike = 2.0 * student_t_sf(cfg.tail_df, abs(zt))
        y = min(CLIP_SCORE, normal_isf(half)) if half > 0.0 else CLIP_SCORE
        y = y if z >= 0 else -y
        k = cfg.cusum_k
        self._cp += y - k
        self._cn += -y - k
        self._lp = min(self._lp, self._cp)
        self._ln = min(self._ln, self._cn)
        cus = max(self._cp - self._lp, self._cn - self._ln)
        self._cv += y * y - SPREAD_K
        self._lv = min(self._lv, self._cv)
        sv = self._cv - self._lv
        if not self._started:
            self._started = True
            self._mean, self._var = u, floor * floor
        dev = ref - self._mean
        zl = dev / max(math.sqrt(self._var), floor)
        a = cfg.long_alpha
        self._mean = a * u + (1.0 - a) * self._mean
        self._var = a * (dev * dev) + (1.0 - a) * self._var
        level_on = ts - self._first_ts >= LEVEL_AFTER_S
        p_mean = min(1.0, 2.0 * math.exp(-2.0 * k * (cus + SIEGMUND)))
        p_spread = math.exp(-SPREAD_THETA * sv)
        ps = (spike, min(1.0, 2.0 * min(p_mean, p_spread)),
              2.0 * normal_sf(abs(zl)) if level_on else 1.0)
        if (cus >= self._cusum_limit or sv >= self._spread_limit
                or (level_on and abs(zl) >= self._level_limit)):
            self._cp = self._lp = self._cn = self._ln = self._cv = self._lv = 0.0
            self._mean = ref
        best = 0 if ps[0] <= ps[1] else 1
        if ps[2] < ps[best]:
            best = 2
        if best == 1 and p_spread < p_mean:
            return ps[1], "spread"
        return ps[best], TESTS[best]


# Both forms take np.mean of the warm-up, which warns when huge values overflow it.
warm_up_overflow = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                                              "ignore:invalid value encountered:RuntimeWarning")


def same(a: float, b: float) -> bool:
    return a.hex() == b.hex() or (math.isnan(a) and math.isnan(b))


def run_both(cfg: AnomalyConfig, ts: list[float], xs: list[float]) -> None:
    fast, plain = AnomalyDetector("temp", cfg), Plain("temp", cfg)
    for t, x in zip(ts, xs, strict=True):
        assert fast.update(t, "temp", x) == plain.update(t, "temp", x)
        assert (fast.level, fast.test) == (plain.level, plain.test)
        assert same(fast.p, plain.p) and same(fast.score, plain.score)


values = st.one_of(st.floats(-50, 50), st.sampled_from([0.0, -0.0, 1e-320, 1e300, -1.7e308]),
                   st.floats(allow_nan=False, allow_infinity=False))
configs = st.builds(AnomalyConfig, window=st.sampled_from([9, 12, 15, 63]),
                    warmup=st.integers(1, 40), tail_df=st.sampled_from([3.0, 4.0]),
                    long_alpha=st.sampled_from([0.005, 0.05, 0.3]),
                    profile_bins=st.sampled_from([1, 5, 24]),
                    threshold=st.sampled_from([0.9, 0.95, 0.99, 0.9999]),
                    cusum_k=st.sampled_from([0.5, 1.5, 3.0]))


@warm_up_overflow
@given(cfg=configs, n=st.integers(1, 500), specials=st.lists(values, max_size=8),
       dt=st.sampled_from([0.001, 60.0, 3600.0, 20000.0]), seed=st.integers(0, 2**16))
def test_fast_path_gives_the_plain_forms_bits(cfg, n, specials, dt, seed):
    rng = np.random.default_rng(seed)
    x = 20 + rng.normal(size=n) * rng.choice([0.0, 0.3, 5.0])
    x += np.where(np.arange(n) >= rng.integers(0, n + 1), rng.normal(0, 10), 0.0)  # a step
    if rng.random() < 0.5:
        x = np.round(x, int(rng.integers(0, 3)))
    xs = x.tolist()
    for v in specials:
        xs[int(rng.integers(0, n))] = v
    ts = (T0 + np.cumsum(rng.choice([0.0, dt, dt, 7 * dt], n))).tolist()
    run_both(cfg, ts, xs)


def test_fast_path_gives_the_plain_forms_bits_over_days_of_shifts_and_spikes():
    rng = np.random.default_rng(17)
    n = 6000
    ts = T0 + np.arange(n) * 60.0
    x = 20 + 2 * np.sin(2 * np.pi * ts / DAY_S) + rng.standard_t(3, n) * 0.3
    x[1000] += 15
    x[2500:] += 4
    x[4000:4500] *= 3
    x[5000:] += np.linspace(0, 20, n - 5000)
    run_both(AnomalyConfig(), ts.tolist(), np.round(x, 2).tolist())


@given(st.lists(st.one_of(st.floats(), st.sampled_from([0.0, -0.0])), min_size=3,
                max_size=3))
def test_middle_of_three_is_what_sorting_picks(abc):
    a, b, c = abc
    assert middle_of_three(a, b, c) is sorted((a, b, c))[1]


@warm_up_overflow
@given(cfg=configs, xs=st.lists(values, min_size=1, max_size=200),
       dt=st.sampled_from([60.0, 3600.0, 20000.0]))
def test_daily_profile_gives_the_plain_forms_bits(cfg, xs, dt):
    fast, plain = DailyProfile(cfg), PlainProfile(cfg)
    for i, x in enumerate(xs):
        assert same(fast.update(T0 + i * dt, x), plain.update(T0 + i * dt, x))


def test_fast_path_gives_the_plain_forms_bits_through_steps_and_an_infinite_window():
    """The window's MAD is walked from the last window's answer (bisected once a NaN or
    inf is in it): level steps make the answer jump, an overflowing value ends the walk."""
    rng = np.random.default_rng(5)
    n = 900
    x = 20 + rng.normal(size=n) * 0.5
    x[200:] += 12
    x[350:] -= 30
    x[500:520] = np.round(x[500:520])  # ties around the median
    xs = x.tolist()
    xs[700], xs[701], xs[800] = 1.7e308, -1.7e308, math.inf  # deviations overflow; then inf
    run_both(AnomalyConfig(), (T0 + np.arange(n) * 600.0).tolist(), xs)


@warm_up_overflow
@given(cfg=configs, n=st.integers(40, 400), seed=st.integers(0, 2**16),
       every=st.integers(2, 50))
def test_p_worked_out_when_read_is_the_p_of_the_last_reading(cfg, n, seed, every):
    """A quiet reading leaves p, test and score pending: read now and then, they are those
    of the last reading, as when read after every one."""
    rng = np.random.default_rng(seed)
    xs = (20 + rng.standard_t(3, n)).tolist()
    ts = (T0 + np.arange(n) * 600.0).tolist()
    always, sometimes = AnomalyDetector("temp", cfg), AnomalyDetector("temp", cfg)
    for i, (t, x) in enumerate(zip(ts, xs, strict=True)):
        assert always.update(t, "temp", x) == sometimes.update(t, "temp", x)
        read_always = (always.p, always.score, always.test)
        if i % every == 0:
            assert (sometimes.p, sometimes.score, sometimes.test) == read_always
        assert always.level == sometimes.level
    assert same(sometimes.score, always.score) and same(sometimes.p, always.p)


def _below(limit: float) -> st.SearchStrategy[float]:
    """Values in [0, limit), the largest float under the limit among them."""
    if not limit > 0:
        return st.just(math.nan)
    return st.one_of(st.just(math.nextafter(limit, 0.0)),
                     st.floats(0.0, limit, exclude_max=True))


@given(threshold=st.floats(0.9001, 1.0, exclude_max=True), df=st.sampled_from([3.0, 4.0]),
       k=st.sampled_from([0.5, 1.5, 3.0]), data=st.data())
def test_quiet_statistics_keep_the_score_below_clearing(threshold, df, k, data):
    """Below quiet_limits every test's p is high enough that the score cannot reach
    clear_below: the detector may then decide its level without the tails."""
    cfg = AnomalyConfig(threshold=threshold, tail_df=df, cusum_k=k)
    zt, cus, sv, zl = quiet_limits(cfg)
    stats = [data.draw(_below(limit)) for limit in (zt, cus, sv, zl)]
    if any(math.isnan(v) for v in stats):
        return  # a limit at or below 0 (cus on a wide threshold): no statistic is quiet
    p, _ = AnomalyDetector("temp", cfg)._combined(*stats)
    score = math.exp(len(TESTS) * math.log1p(-p)) if p < 1.0 else 0.0
    assert score < clear_below(cfg) <= threshold


@pytest.mark.parametrize("threshold", [0.9999999999999999, 0.9999999999999998, 0.99999999999999])
def test_no_reading_is_quiet_a_few_ulps_under_one(threshold):
    """Near 1 the margin on p is below the score's ulps: the largest statistic under each
    limit gave a score above clear_below at one ulp under 1, so no reading is quiet there."""
    assert quiet_limits(AnomalyConfig(threshold=threshold)) == (-math.inf,) * 4


@pytest.mark.parametrize("threshold", [1 - 1.01e-13, 1 - 2e-13, 1 - 1e-11])
def test_quiet_statistics_keep_the_score_below_clearing_just_beyond_the_cut_off(threshold):
    """The nearest thresholds to 1 that still have quiet limits: the largest statistic under
    each limit keeps the detector's score under clear_below."""
    cfg = AnomalyConfig(threshold=threshold)
    detector = AnomalyDetector("temp", cfg)
    limits = quiet_limits(cfg)
    assert all(limit > 0 for limit in limits)
    for i, limit in enumerate(limits):
        stats = [0.0] * 4
        stats[i] = math.nextafter(limit, 0.0)
        p, _ = detector._combined(*stats)
        assert _score(p) < clear_below(cfg)


def test_quiet_limits_are_off_when_every_score_holds_a_flag():
    assert quiet_limits(AnomalyConfig(threshold=0.9)) == (-math.inf,) * 4
    assert quiet_limits(AnomalyConfig(threshold=0.85)) == (-math.inf,) * 4
    zt, cus, sv, zl = quiet_limits(AnomalyConfig())
    assert 3.5 < zt < 4.0 and 0.9 < cus < 1.1 and 10 < sv < 11 and 2.0 < zl < 2.2


@given(st.floats(0.0, 1.0, exclude_min=True, exclude_max=True))
def test_normal_quantile_is_what_normal_dist_gives(p):
    assert same(normal_quantile(p, 0.0, 1.0), NormalDist().inv_cdf(p))
    assert same(-normal_quantile(p, 0.0, 1.0), normal_isf(p))
