"""One calibrated anomaly score per node and channel: ``anomaly_score = 1 - p``.

p bounds the probability, under the channel's recent behaviour, of a reading at least
this unusual, so 0.99 means "rarer than 1 in 100" whatever the series' scale, noise or
resolution. Per reading, after the daily profile is removed (``daily_profile``), u is
compared with the readings before it, in three thirds of ``window`` readings:

- spike: the residual r = u - expected, where expected is the newest third's median
  carried forward along the local trend (the smaller of the slopes between the thirds'
  medians when they agree, so a ramp is followed and a step is not); over the spread
  sigma = max(1.4826 x the thirds' median MAD, 1.2533 x the long-run mean |r|, the
  series' resolution), inflated for the median's own error. Two-sided Student-t tail
  with ``tail_df`` degrees of freedom: valid for noise with tails up to that heavy,
  conservative for Gaussian noise. The spike test reads r in that t law's own scale
  (``t_units``: the MAD over the t's quartile, not the normal's): in the normal's scale
  an 8 sigma spike in Gaussian noise scored 0.988. The median's inflation applies to the
  local term only: the long-run residuals already carry the prediction's error.
- shift: a two-sided CUSUM on the residuals' normal scores (the spike test's
  probabilities mapped to N(0, 1)), reference ``cusum_k``; P(S >= s) =
  2 exp(-2k (s + 0.583)), the stationary tail with Siegmund's (1985) correction.
  Beside it, in the same test (Bonferroni: twice the smaller p), a one-sided CUSUM of
  y^2 - k for a growing spread, k from the likelihood ratio of a doubled noise
  (``SPREAD_RHO``); P(S >= s) <= exp(-theta s) (Kingman 1964), theta = 3/8. A noise that
  grows 3-5 times is found within a few readings, before the local spread adapts.
- level: once two days are seen (the profile is in), the expected value against a
  long-run exponential mean M of u, over the larger of that difference's own long-run
  spread, what the medians' noise alone gives and the series' resolution (a quantised
  walk's median moving a last digit is no level change); a normal tail (both are
  averages of many readings). Finds slow drifts the local trend follows.

After a signal of the shift or level test (it alone reaching the flag threshold) both
restart: the CUSUMs from 0, M from the expected value. The probabilities are combined
by their minimum with a Sidak correction, p = 1 - (1 - min p_i)^3: valid under the
positive dependence the tests have (they share the residuals), a flag names the test
behind it, and unremarkable tests cannot add up to a flag as in Fisher's sum. The level is
Waspada from a score at ``threshold`` until it falls below ``clear_below`` (0.9 for
0.99). Streaming (``update``) and batch (``anomaly_batch.anomaly_p``) forms give the same
scores.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque

import numpy as np

from siaga.analytics.config import AnomalyConfig
from siaga.analytics.daily_profile import DailyProfile
from siaga.analytics.detector import BatchResult, StrArray
from siaga.analytics.detectors.anomaly_batch import anomaly_p
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
    cusum_limit,
    inflation,
    level_limit,
    quiet_limits,
    score_of,
    spread_limit,
    t_units,
)
from siaga.analytics.detectors.rain import spread_float
from siaga.analytics.detectors.threshold import CHANNEL_HAZARD, spread
from siaga.analytics.explain import Explanation, fmt
from siaga.analytics.hysteresis import FloatArray, LevelMachine, run_levels
from siaga.analytics.rolling_median import (
    kth_deviation,
    median_of_sorted,
    middle_of_three,
    sorted_mad,
)
from siaga.analytics.tail_probability import normal_quantile, normal_sf, student_t_sf_of


def _score(p: float) -> float:
    """1 - the Sidak-corrected p (``score_of`` for one float)."""
    return math.exp(len(TESTS) * math.log1p(-p)) if p < 1.0 else 0.0


class AnomalyDetector:
    """The streaming form, fed every reading of its channel on the gateway's core thread.

    Written for its cost per reading (issue 17: 7.3 -> 4.5 -> ~3 us CPU per update,
    tests/benchmarks/bench_analytics.py --kit-only --kit-detail): configuration and
    derived constants are read once here; ``min``/``max`` of two or three floats are
    written out as the comparisons the builtins make (``m = a; if b > m: m = b``), so every
    result keeps its bits, NaN included; the level machine, whose durations are 0, is
    stepped only when the score wants a move; the window's MAD is walked from the last
    window's answer; and a quiet reading, whose tests' statistics are all below
    ``quiet_limits`` (so its score cannot reach ``clear_below``), keeps them and leaves
    ``p``, ``score`` and ``test`` to be worked out when read.
    tests/unit/analytics/test_anomaly_fast_path.py pins every p, score, test and level to
    the plain form, bit for bit.
    """

    name = "anomaly"

    def __init__(self, channel: str, cfg: AnomalyConfig) -> None:
        self.channel = channel
        self.channels = frozenset({channel})
        self.hazard = CHANNEL_HAZARD.get(channel, "sensor_fault")
        self.cfg = cfg
        self.level = 1
        self._p = 1.0
        self._score = 0.0
        self._test = ""
        # The tests' statistics of a quiet reading, whose p waits until asked (_settle).
        self._pending: tuple[float, float, float, float] | None = None
        self._value = math.nan
        h = self._h = cfg.window // 3
        self._profile = DailyProfile(cfg)
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []
        self._finite = True  # no inf or NaN has entered the window (the MAD's walk)
        self._mad_at = 0  # where the last window's MAD was found (the walk's start)
        self._thirds: deque[tuple[float, float]] = deque(maxlen=2 * h + 1)
        self._seen = 0
        self._first_ts = math.nan
        self._last = math.nan
        self._q = 0.0  # the series' resolution (its smallest step), 0 until a step is seen
        self._scored = 0
        self._spread = 0.0  # long-run mean |residual|
        self._exact = max(1, round(1.0 / cfg.long_alpha))
        self._started = False
        self._cp = self._lp = self._cn = self._ln = self._cv = self._lv = 0.0
        self._mean = self._var = 0.0
        self._cusum_limit = cusum_limit(cfg)
        self._spread_limit = spread_limit(cfg)
        self._level_limit = level_limit(cfg)
        self._floor = math.sqrt(math.pi / h * 1.5 + cfg.long_alpha)
        self._clear = clear_below(cfg)
        self._infl_full = inflation(h, True)
        self._t_units = t_units(cfg)
        self._t_sf = student_t_sf_of(cfg.tail_df)
        self._first_scored = max(cfg.warmup, 1)
        self._full_at = 3 * h
        self._half_step = (h + 1) / 2
        self._alpha = cfg.long_alpha
        self._keep = 1.0 - cfg.long_alpha
        self._k = cfg.cusum_k
        self._decay = -2.0 * cfg.cusum_k  # of p_mean: exp(-2k (s + SIEGMUND))
        self._threshold = cfg.threshold
        self._quiet_zt, self._quiet_cus, self._quiet_sv, self._quiet_zl = quiet_limits(cfg)
        self._machine = LevelMachine()

    def update(self, ts: float, channel: str, value: float) -> bool:
        self._value = value
        h, i = self._h, self._seen
        u = self._profile.update(ts, value)
        if u - u:  # inf or NaN (a finite u gives 0.0): its window is no longer finite
            self._finite = False
        s = self._sorted
        n = len(s)
        if n % 2:  # the window once full (h is odd in the default config)
            half = n // 2
            med = s[half]
            j = bisect_left(s, med)
            if self._finite:
                # kth_deviation(s, med, j, half) found by walking from the last window's
                # answer instead of bisecting (issue 17: 130 -> ~60 bytecodes a reading; the
                # answer moves by at most one in 19 of 20 readings). The half + 1 smallest
                # deviations take lo from below med, med - s[j - 1 - a] (a < lo), and the rest
                # from it up, s[top - a] - med: lo is the first a where the a-th below is no
                # longer the smaller. Both sides are monotone while the window is finite, so
                # the walk ends at the one boundary the bisection finds.
                top = j + half
                lo = self._mad_at
                if lo > j:
                    lo = j
                if lo < j and med - s[j - 1 - lo] < s[top - lo] - med:
                    lo += 1
                    while lo < j and med - s[j - 1 - lo] < s[top - lo] - med:
                        lo += 1
                else:
                    while lo and not med - s[j - lo] < s[top + 1 - lo] - med:
                        lo -= 1
                self._mad_at = lo
                mad = s[top - lo] - med  # kth_deviation's choice of the two candidates
                if lo:
                    below = med - s[j - lo]
                    if below > mad:
                        mad = below
            else:  # an inf or NaN may break the order the walk needs: the bisection's answer
                mad = kth_deviation(s, med, j, half)
        elif n:
            med = median_of_sorted(s)
            mad = sorted_mad(s, med)
        else:
            med = mad = 0.0
        thirds = self._thirds
        thirds.append((med, mad))
        if i == 0:
            self._first_ts = ts
        quiet: bool | None = None  # None: not scored (p = 1)
        q = self._q
        if i >= self._first_scored:
            full = i >= self._full_at
            if full:
                m2, a2 = thirds[-1 - h]
                m1, a1 = thirds[-1 - 2 * h]
                local = MAD_SIGMA * middle_of_three(a1, a2, mad)
            else:
                m2 = m1 = med
                local = MAD_SIGMA * mad
            s23, s12 = (med - m2) / h, (m2 - m1) / h
            slope = 0.0  # copysign(min(|s23|, |s12|), s23) when both slopes agree
            if s23 * s12 > 0:  # neither is 0 or NaN
                slope = abs(s23)
                if abs(s12) < slope:
                    slope = abs(s12)
                if s23 < 0:
                    slope = -slope
            ref = med + slope * self._half_step
            long_run = MEAN_ABS_SIGMA * self._spread
            sigma = local  # max(local, long_run, q)
            if long_run > sigma:
                sigma = long_run
            if q > sigma:
                sigma = q
            r = u - ref
            if sigma > 0.0:
                infl = self._infl_full if full else inflation(min(i, h), False)
                scale = local * infl  # max(max(local * infl, long_run) / t_units, q)
                if long_run > scale:
                    scale = long_run
                scale = scale / self._t_units
                if q > scale:
                    scale = q
                quiet = self._tests(ts, u, ref, r / (sigma * infl), r / scale, sigma, q)
            clip = local  # CLIP_RESIDUAL * max(local, q)
            if q > clip:
                clip = q
            clip = CLIP_RESIDUAL * clip
            size = abs(r)  # min(abs(r), clip)
            if clip < size:
                size = clip
            scored = self._scored
            if scored < self._exact:
                w = 1.0 / (scored + 1)
                self._spread = w * size + (1.0 - w) * self._spread
            else:
                self._spread = self._alpha * size + self._keep * self._spread
            self._scored = scored + 1
        last = self._last
        if last == last and value != last:
            step = abs(value - last)
            # min(q, step), q = 0 standing for none yet; a step of inf or NaN never sets it
            if step < q or not q and step < math.inf:
                self._q = step
        self._last = value
        self._seen = i + 1
        fifo = self._fifo
        fifo.append(u)
        insort(s, u)
        if n >= h:
            del s[bisect_left(s, fifo.popleft())]
        if quiet:
            # Every test's statistic is below its quiet limit, so the score is below
            # clear_below: up and down are 1 whatever p is exactly, and p, test and score
            # are worked out when read.
            if self.level > 1:
                changed = self._machine.step(ts, 1, 1)
                self.level = self._machine.level
                return changed
            return False
        pending = self._pending
        if quiet is None:
            p, test = 1.0, ""
        else:
            assert pending is not None  # quiet is False: _tests has just set it
            p, test = self._combined(*pending)
        self._pending = None
        self._p = p
        self._test = test
        score = self._score = _score(p)
        up = 2 if score >= self._threshold else 1
        down = 2 if score >= self._clear else 1
        if up > self.level or down < self.level:
            changed = self._machine.step(ts, up, down)
            self.level = self._machine.level
            return changed
        return False  # the machine would only have reset its pending move: it has none

    def _tests(self, ts: float, u: float, ref: float, z: float, zt: float, sigma: float,
               q: float) -> bool:
        """Step the CUSUMs and the long-run mean; keep the tests' statistics for their p
        (``_combined``) in ``_pending``; True when each is below its quiet limit."""
        half = self._t_sf(abs(z))
        y = CLIP_SCORE  # min(CLIP_SCORE, normal_isf(half)), when half > 0
        if half > 0.0:
            y = -normal_quantile(half, 0.0, 1.0)
            if not y < CLIP_SCORE:
                y = CLIP_SCORE
        if not z >= 0:
            y = -y
        k = self._k
        cp = self._cp = self._cp + (y - k)
        cn = self._cn = self._cn + (-y - k)
        lp, ln = self._lp, self._ln
        if cp < lp:
            lp = self._lp = cp
        if cn < ln:
            ln = self._ln = cn
        cus = cp - lp  # max(cp - lp, cn - ln)
        if cn - ln > cus:
            cus = cn - ln
        cv = self._cv = self._cv + (y * y - SPREAD_K)
        lv = self._lv
        if cv < lv:
            lv = self._lv = cv
        sv = cv - lv
        floor = sigma * self._floor  # max(sigma * floor, q)
        if q > floor:
            floor = q
        if not self._started:
            self._started = True
            self._mean, self._var = u, floor * floor
        mean, var = self._mean, self._var
        dev = ref - mean
        sd = math.sqrt(var)  # max(sqrt(var), floor)
        if floor > sd:
            sd = floor
        zl = dev / sd
        a, keep = self._alpha, self._keep
        self._mean = a * u + keep * mean
        self._var = a * (dev * dev) + keep * var
        level_on = ts - self._first_ts >= LEVEL_AFTER_S
        azl = abs(zl) if level_on else 0.0  # 0: the level test's p is exactly 1
        if (cus >= self._cusum_limit or sv >= self._spread_limit
                or (level_on and azl >= self._level_limit)):
            self._cp = self._lp = self._cn = self._ln = self._cv = self._lv = 0.0
            self._mean = ref
        azt = abs(zt)
        self._pending = (azt, cus, sv, azl)
        return (azt < self._quiet_zt and cus < self._quiet_cus and sv < self._quiet_sv
                and azl < self._quiet_zl)

    def _combined(self, azt: float, cus: float, sv: float, azl: float) -> tuple[float, str]:
        """The combined p and the test behind it, from the statistics ``_tests`` kept."""
        spike = 2.0 * self._t_sf(azt)
        p_mean = 2.0 * math.exp(self._decay * (cus + SIEGMUND))
        if not p_mean < 1.0:
            p_mean = 1.0
        p_spread = math.exp(-SPREAD_THETA * sv)
        p_shift = 2.0 * (p_spread if p_spread < p_mean else p_mean)
        if not p_shift < 1.0:
            p_shift = 1.0
        p_level = 2.0 * normal_sf(azl)
        if p_level < (spike if spike <= p_shift else p_shift):
            return p_level, "level"
        if spike <= p_shift:
            return spike, "spike"
        return p_shift, "spread" if p_spread < p_mean else "shift"

    def _settle(self) -> None:
        """p, test and score of the last reading, left pending by a quiet one."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            p, self._test = self._combined(*pending)
            self._p = p
            self._score = _score(p)

    # Read as attributes: p, test and score of a quiet reading are worked out when read.
    @property
    def p(self) -> float:
        """The last reading's combined p (1 before the warm-up is over)."""
        self._settle()
        return self._p

    @property
    def score(self) -> float:
        """1 - the Sidak-corrected p: the anomaly score of the last reading."""
        self._settle()
        return self._score

    @property
    def test(self) -> str:
        """The test behind the last reading's p ("" when unscored)."""
        self._settle()
        return self._test

    def metrics(self) -> dict[str, float]:
        return {"score": self.score, "p": self.p}

    def explain(self, previous: int) -> Explanation:
        if self.level > previous:
            odds = fmt(1.0 / max(1.0 - self.score, 1e-12))
            tid = (f"Anomali pada {self.channel}: nilai {fmt(self._value)}, skor "
                   f"{self.score:.4f} (uji {self.test}, lebih jarang dari 1 banding {odds})")
            ten = (f"Anomaly on {self.channel}: value {fmt(self._value)}, score "
                   f"{self.score:.4f} ({self.test} test, rarer than 1 in {odds})")
        else:
            tid = f"Anomali pada {self.channel} berakhir"
            ten = f"Anomaly on {self.channel} has ended"
        return Explanation(tid, ten, {"value": self._value, "score": self.score},
                           {"threshold": self.cfg.threshold}, self.channel)

    def batch(self, ts: FloatArray, channels: StrArray, values: FloatArray) -> BatchResult:
        rows = np.flatnonzero(channels == self.channel)
        p = anomaly_p(self.cfg, ts[rows], values[rows])
        score = score_of(p)
        up = np.where(score >= self.cfg.threshold, 2, 1).astype(np.int8)
        down = np.where(score >= clear_below(self.cfg), 2, 1).astype(np.int8)
        lv = run_levels(ts[rows], up, down)
        n = len(ts)
        return BatchResult(spread(n, rows, lv), spread_float(n, rows, score),
                           {"p": spread_float(n, rows, p)})
