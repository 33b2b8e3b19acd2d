"""A site's E-D rainfall threshold from its rain record and landslide dates, and its skill.

Pure (arrays in, records out). The method is the frequentist one of Brunetti et al.
(2010, Nat. Hazards Earth Syst. Sci. 10: 447-458) with the bootstrap uncertainty of
Peruccacci et al. (2012, Geomorphology 139-140: 79-90):

1. Rain events: runs of wet intervals (any rain) separated by more than ``dry_gap_s``
   without rain, the landslide detector's definition (an event starts at the beginning
   of its first wet interval; the snippet carries the gap, so the detector splits events
   as the fit did). For each landslide, the event in progress when it
   happened gives its (D, E): duration in hours from the event's first wet interval to
   the landslide, rain from the event start to it. Landslides without rain are reported
   and left out of the fit.
2. log10 E = log10 a + b log10 D by least squares (``scipy.stats.linregress``); the
   residuals' density by a Gaussian kernel (``scipy.stats.gaussian_kde``) with a Gaussian
   fitted to it (``scipy.optimize.curve_fit``); the threshold at non-exceedance
   probability p is the line moved down to the residual below which p of the Gaussian
   lies (``scipy.stats.norm.ppf``): E = a_p D^b.
3. Uncertainty: the fit repeated on ``n_boot`` bootstrap resamples of the events; a and b
   are reported as the bootstrap mean and standard deviation.

Evaluation (``evaluate``): the curve is applied to every interval of a record as the
detector does (the running event's E against a_p D^b), consecutive warned intervals
form an episode (Siaga, for a site with ``rain_level = 3``); a landslide is warned when a
warned interval falls within ``lead_s`` (72 h) before it up to its time; an episode is
false when no landslide falls between its start and ``lead_s`` after its end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from siaga.analytics.errors import CalibrationError
from siaga.analytics.rain_record import HOUR, Landslide, RainRecord
from siaga.analytics.rainfall_thresholds import AntecedentThreshold

TRACE_MM = 0.1  # the least a gauge reports: keeps log E finite for a trace event
LEAD_S = 72 * HOUR
PROBABILITIES = (0.01, 0.05, 0.10, 0.20, 0.35, 0.50)
MIN_EVENTS = 5


@dataclass(frozen=True, slots=True)
class Events:
    """Per interval: the id of the event it belongs to (-1: dry, no event running) and
    the event's start (end of the interval before its first wet one) and rain so far."""

    event: np.ndarray
    start: np.ndarray
    cum_mm: np.ndarray


@dataclass(frozen=True, slots=True)
class Fit:
    a: float  # at the chosen probability
    b: float
    a_sd: float
    b_sd: float
    probability: float
    d_min_h: float
    d_max_h: float
    n_events: int
    skipped_dry: int  # landslides with no rain event running


@dataclass(frozen=True, slots=True)
class Skill:
    probability: float
    a: float
    b: float
    landslides: int
    warned: int
    missed: int
    episodes: int
    false_episodes: int
    false_per_year: float
    warned_fraction: float  # share of intervals under warning

    @property
    def pod(self) -> float:
        return self.warned / self.landslides if self.landslides else math.nan


def rain_events(rec: RainRecord, dry_gap_s: float) -> Events:
    n = len(rec.mm)
    wet = rec.mm > 0.0
    wet_idx = np.flatnonzero(wet)
    event = np.full(n, -1)
    start = np.full(n, math.nan)
    cum = np.zeros(n)
    if not len(wet_idx):
        return Events(event, start, cum)
    t_wet = rec.end[wet_idx]
    new = np.r_[True, np.diff(t_wet) > dry_gap_s]
    ids = np.cumsum(new) - 1
    first = wet_idx[new]  # first wet interval of each event
    last = np.r_[wet_idx[np.flatnonzero(new)[1:] - 1], wet_idx[-1]]
    for k, (i, j) in enumerate(zip(first, last, strict=True)):
        # An event runs from its first wet interval until dry_gap_s after its last one.
        stop = int(np.searchsorted(rec.end, rec.end[j] + dry_gap_s, side="right"))
        if k + 1 < len(first):
            stop = min(stop, int(first[k + 1]))
        event[i:stop] = k
        start[i:stop] = rec.end[i] - rec.step_s
        cum[i:stop] = np.cumsum(rec.mm[i:stop])
    del ids
    return Events(event, start, cum)


def slide_rows(rec: RainRecord, ev: Events, slides: Sequence[Landslide]) -> np.ndarray:
    """The interval of each landslide that fell during a rain event (the others left out)."""
    rows = []
    for s in slides:
        i = int(np.searchsorted(rec.end, s.at, side="left"))
        if i < len(rec.end) and rec.end[i] - rec.step_s <= s.at and ev.event[i] >= 0:
            rows.append(i)
    return np.array(rows, dtype=np.int64)


def triggering(rec: RainRecord, ev: Events,
               slides: Sequence[Landslide]) -> tuple[np.ndarray, np.ndarray, int]:
    """(D hours, E mm) of the event running at each landslide; and how many had none."""
    i = slide_rows(rec, ev, slides)
    d = np.maximum((rec.end[i] - ev.start[i]) / HOUR, rec.step_s / HOUR)
    return d, ev.cum_mm[i], len(slides) - len(i)


def _gaussian(x: np.ndarray, amp: float, mu: float, sigma: float) -> np.ndarray:
    out: np.ndarray = amp * np.exp(-((x - mu) ** 2) / (2 * sigma**2))
    return out


def _fit_once(log_d: np.ndarray, log_e: np.ndarray, p: float) -> tuple[float, float]:
    reg = stats.linregress(log_d, log_e)
    resid = log_e - (reg.intercept + reg.slope * log_d)
    sd = float(np.std(resid)) or 1e-6
    grid = np.linspace(resid.min() - 3 * sd, resid.max() + 3 * sd, 200)
    try:
        density = stats.gaussian_kde(resid)(grid)
        (_, mu, sigma), _ = optimize.curve_fit(_gaussian, grid, density,
                                               p0=(float(density.max()), 0.0, sd))
    except (np.linalg.LinAlgError, RuntimeError, ValueError):
        mu, sigma = float(np.mean(resid)), sd
    delta = mu + abs(sigma) * stats.norm.ppf(p)
    return 10 ** (reg.intercept + delta), float(reg.slope)


def fit_ed(d_h: np.ndarray, e_mm: np.ndarray, probability: float, *, n_boot: int = 1000,
           seed: int = 0, skipped_dry: int = 0,
           progress: Callable[[float], None] | None = None) -> Fit:
    if len(d_h) < MIN_EVENTS:
        raise CalibrationError(
            f"only {len(d_h)} landslides fell during a rain event; at least {MIN_EVENTS} are "
            "needed to fit a threshold (a longer record or inventory)")
    log_d, log_e = np.log10(d_h), np.log10(np.maximum(e_mm, TRACE_MM))
    a, b = _fit_once(log_d, log_e, probability)
    rng = np.random.default_rng(seed)
    boots = np.empty((n_boot, 2))
    for k in range(n_boot):
        pick = rng.integers(0, len(d_h), len(d_h))
        if np.ptp(log_d[pick]) == 0:
            boots[k] = (a, b)
        else:
            boots[k] = _fit_once(log_d[pick], log_e[pick], probability)
        if progress is not None and k % 100 == 0:
            progress(k / n_boot)
    b = float(np.clip(b, 0.0, 1.0))  # an E-D slope outside 0..1 would mean less rain for
    # longer events or an intensity growing with duration: the record cannot support it.
    a_sd, b_sd = (float(np.std(boots[:, 0])), float(np.std(boots[:, 1]))) if n_boot else (
        math.nan, math.nan)
    return Fit(a=a, b=b, a_sd=a_sd, b_sd=b_sd,
               probability=probability, d_min_h=float(d_h.min()), d_max_h=float(d_h.max()),
               n_events=len(d_h), skipped_dry=skipped_dry)


def above_curve(rec: RainRecord, ev: Events, a: float, b: float, d_min_h: float,
                d_max_h: float) -> np.ndarray:
    """Per interval: the running event's rain is on or above E = a D^b (D clipped to the
    curve's range), what the landslide detector's ``id_ratio >= 1`` says at its end."""
    running = ev.event >= 0
    d = np.clip((rec.end - np.nan_to_num(ev.start)) / HOUR, d_min_h, d_max_h)
    out: np.ndarray = running & (ev.cum_mm >= a * d**b)
    return out


def evaluate(rec: RainRecord, ev: Events, slides: Sequence[Landslide], a: float, b: float,
             probability: float, d_min_h: float, d_max_h: float,
             lead_s: float = LEAD_S, also: np.ndarray | None = None) -> Skill:
    """``also``: more intervals under warning (a cumulative threshold's), as the detector
    raises its rain rung on either."""
    warn = above_curve(rec, ev, a, b, d_min_h, d_max_h)
    if also is not None:
        warn = warn | also
    idx = np.flatnonzero(warn)
    starts = idx[np.r_[True, np.diff(idx) > 1]] if len(idx) else idx
    ends = idx[np.r_[np.diff(idx) > 1, True]] if len(idx) else idx
    at = np.array([s.at for s in slides])
    warned_t = rec.end[idx]
    warned = 0
    for t in at:
        lo = np.searchsorted(warned_t, t - lead_s, side="left")
        hi = np.searchsorted(warned_t, t, side="right")
        warned += int(hi > lo)
    false = 0
    for i, j in zip(starts, ends, strict=True):
        t0, t1 = rec.end[i] - rec.step_s, rec.end[j] + lead_s
        if not np.any((at >= t0) & (at <= t1)):
            false += 1
    years = max(rec.years, 1e-9)
    return Skill(probability, a, b, len(slides), warned, len(slides) - warned, len(starts),
                 false, false / years, float(warn.mean()) if len(warn) else 0.0)


def skill_table(rows: Sequence[Skill], chosen: float) -> str:
    head = (f"{'p':>5} {'a':>7} {'b':>5} {'warned':>7} {'missed':>7} {'POD':>5} "
            f"{'episodes':>8} {'false':>6} {'false/yr':>8} {'warned %':>8}")
    lines = [head]
    for r in rows:
        mark = "  <- chosen" if math.isclose(r.probability, chosen) else ""
        lines.append(
            f"{r.probability:5.0%} {r.a:7.2f} {r.b:5.2f} {r.warned:7d} {r.missed:7d} "
            f"{r.pod:5.2f} {r.episodes:8d} {r.false_episodes:6d} {r.false_per_year:8.1f} "
            f"{100 * r.warned_fraction:8.2f}{mark}")
    return "\n".join(lines)


def snippet(fit: Fit, *, site: str, node: str, command: str, dry_gap_s: float,
            antecedent: AntecedentThreshold | None = None) -> str:
    """The ``[analytics]`` TOML that applies the fitted curve to the site's rain gauge,
    with the event definition (dry gap) it was fitted with and, when fitted, the
    cumulative antecedent threshold beside it."""
    name = f"{site}-fit"
    ante = [] if antecedent is None else [
        f"[analytics.landslide.curves.{name}.antecedent]",
        f"# {antecedent.short_days:g}-day rain + w x the {antecedent.long_days:g} days "
        f"before >= short_mm, at {fit.probability:.0%} non-exceedance",
        f"short_mm = {antecedent.short_mm:.4f}",
        f"long_weight = {antecedent.long_weight:.4f}",
        f'source = "{antecedent.source}"',
        "",
    ]
    return "\n".join([
        f"# Written by: {command}",
        f"# E-D threshold E = a * D^b (E mm, D h) at {fit.probability:.0%} non-exceedance,",
        "# fitted by the frequentist method of Brunetti et al. (2010) with the bootstrap of",
        f"# Peruccacci et al. (2012) on {fit.n_events} landslides with rain "
        f"({fit.skipped_dry} without rain left out).",
        f"# a = {fit.a:.3f} +- {fit.a_sd:.3f}, b = {fit.b:.3f} +- {fit.b_sd:.3f}; "
        f"valid for D {fit.d_min_h:g}..{fit.d_max_h:g} h.",
        f"[analytics.landslide.curves.{name}]",
        'kind = "ED"',
        f"a = {fit.a:.4f}",
        f"b = {fit.b:.4f}",
        f"d_min_h = {fit.d_min_h:g}",
        f"d_max_h = {fit.d_max_h:g}",
        f"dry_gap_s = {dry_gap_s:g}  # events as fitted: split by {dry_gap_s / HOUR:g} h "
        "without rain",
        f'source = "calibrate-rain: Brunetti et al. 2010 at p = {fit.probability:g}"',
        "",
        *ante,
        f"[analytics.sites.{site}]",
        f'landslide_curve = "{name}"',
        "rain_level = 3  # rain above the fitted curve raises Siaga from the gauge alone",
        f'rain_node = "{node}"',
        "",
        f"[analytics.nodes.{node}]",
        f'site = "{site}"',
        "",
    ])
