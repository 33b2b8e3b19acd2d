"""The same series through the streaming and the batch form: identical levels and scores."""

import math

import numpy as np
import pytest

from siaga.analytics.batch import run_node
from siaga.analytics.config import AnomalyConfig, HealthConfig, SoilCalibration
from siaga.analytics.config_load import load_config
from siaga.analytics.detectors.anomaly import AnomalyDetector
from siaga.analytics.detectors.crowd import CrowdDetector
from siaga.analytics.detectors.fire import FireDetector
from siaga.analytics.detectors.health import ChannelHealthDetector
from siaga.analytics.detectors.landslide import LandslideDetector
from siaga.analytics.detectors.rain import RainDetector
from siaga.analytics.detectors.threshold import ThresholdDetector
from siaga.analytics.engine import EdgeAnalytics
from siaga.analytics.rainfall_thresholds import ID_CURVES, AntecedentThreshold, IDCurve
from tests.unit.analytics.readings import T0, reading

CHANNELS = np.array(["rain", "vwc", "ext", "tilt", "smoke", "temp", "pin", "pout", "batt"])


def mixed_series(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One node's rows, every channel mixed, with storms, fires, crowds and drift."""
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.uniform(1, 120, n))
    ch = rng.choice(CHANNELS, n)
    phase = np.sin(ts / 20000.0)
    v = np.zeros(n)
    v[ch == "rain"] = np.where(rng.random((ch == "rain").sum()) < 0.5,
                               rng.exponential(2 + 4 * (phase[ch == "rain"] > 0.5)), 0.0)
    v[ch == "vwc"] = 32 + 10 * phase[ch == "vwc"] + rng.normal(0, 0.3, (ch == "vwc").sum())
    v[ch == "ext"] = 100 + np.cumsum(rng.exponential(0.3, (ch == "ext").sum()))
    v[ch == "tilt"] = np.cumsum(rng.normal(0, 0.05, (ch == "tilt").sum()))
    v[ch == "smoke"] = np.maximum(0, 40 + 150 * phase[ch == "smoke"]
                                  + rng.normal(0, 20, (ch == "smoke").sum()))
    v[ch == "temp"] = 30 + 25 * phase[ch == "temp"] + rng.normal(0, 2, (ch == "temp").sum())
    v[ch == "pin"] = rng.poisson(30, (ch == "pin").sum())
    v[ch == "pout"] = rng.poisson(25, (ch == "pout").sum())
    v[ch == "batt"] = 3.6 + 0.3 * phase[ch == "batt"]
    for name, size in (("smoke", 400.0), ("temp", 30.0), ("vwc", 5.0)):  # rare outliers
        rows = np.flatnonzero(ch == name)[200::250]
        v[rows] += size
    return ts, ch, v


def detectors():
    cfg = load_config({})
    zone = load_config({"crowd": {"zones": {"z": {"nodes": ["n"], "capacity": 2000,
                                                  "area_m2": 500}}}}).crowd
    return [
        ThresholdDetector("temp", cfg.threshold.channels["temp"]),
        RainDetector(cfg.rain),
        LandslideDetector(cfg.landslide, ID_CURVES["guzzetti2008"], SoilCalibration(30, 40)),
        # A site with a fitted E-D curve: rain alone raises Siaga.
        LandslideDetector(cfg.landslide, IDCurve(10.0, 0.45, 1.0, 300.0, kind="ED"),
                          SoilCalibration(30, 40), rain_level=3),
        # A curve with a cumulative antecedent threshold (days shortened to the series):
        # the curve is never reached here, the cumulative threshold often.
        LandslideDetector(cfg.landslide, IDCurve(500.0, 0.39, 0.167, 240.0, antecedent=(
            AntecedentThreshold(150.0, 0.5, short_days=0.25, long_days=1.0))),
                          SoilCalibration(30, 40), rain_level=2),
        FireDetector(cfg.fire),
        CrowdDetector(zone, "z", zone.zones["z"]),
        AnomalyDetector("smoke", AnomalyConfig()),
        AnomalyDetector("temp", AnomalyConfig(window=33)),
        AnomalyDetector("vwc", AnomalyConfig(warmup=50, tail_df=5.0)),
        ChannelHealthDetector("temp", HealthConfig(max_step={"temp": 6.0})),
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("index", range(11))
def test_every_detector_streaming_equals_batch(seed, index):
    ts, ch, v = mixed_series(6000, seed)
    stream = detectors()[index]
    batch = detectors()[index].batch(ts, ch, v)
    levels, scores = [], []
    metrics: dict[str, list[float]] = {k: [] for k in batch.metrics}
    m: dict[str, float] = {}
    for t, c, x in zip(ts.tolist(), ch.tolist(), v.tolist(), strict=True):
        if c in stream.channels:
            stream.update(t, c, x)
            m = stream.metrics()
        for k in metrics:
            metrics[k].append(m.get(k, math.nan))
        levels.append(stream.level)
        scores.append(stream.score)
    assert levels == batch.levels.tolist()
    assert max(levels) >= 2, "the series should exercise the detector"
    np.testing.assert_allclose(scores, batch.scores, rtol=0, atol=1e-9)
    for k, col in metrics.items():
        got = np.array(col)
        first = next((i for i, c in enumerate(ch) if c in stream.channels), len(ch))
        np.testing.assert_allclose(got[first:], batch.metrics[k][first:], rtol=1e-9,
                                   atol=1e-9, err_msg=k)


def test_engine_alerts_equal_batch_level_changes_with_faults_nan_and_late_rows():
    ts, ch, v = mixed_series(8000, 7)
    v[100] = math.nan
    v[(ch == "temp") & (np.arange(len(v)) % 97 == 0)] = 150.0  # out of range temps
    v[(ch == "smoke") & (np.arange(len(v)) % 89 == 0)] = 20000.0  # out of range smoke
    table = {"anomaly": {"emit_alerts": True},
             "crowd": {"zones": {"z": {"nodes": ["n"], "capacity": 2000, "area_m2": 500}}}}
    cfg = load_config(table)
    eng = EdgeAnalytics(cfg)
    alerts = []
    for i, (t, c, x) in enumerate(zip(ts.tolist(), ch.tolist(), v.tolist(), strict=True)):
        alerts += [(a.detector, a.ts, int(a.level)) for a in
                   eng.process(reading("n", c, x, T0 + t, seq=i))]
        if i % 50 == 1:  # a late copy of the row: ignored (and absent from the batch input)
            assert eng.process(reading("n", c, 1.0, T0 + t - 1000, seq=i)) == []
    nb = run_node(cfg, "n", T0 + ts, ch, v)
    expected = []
    for name, res in nb.results.items():
        lv = np.r_[1, res.levels]
        for i in np.flatnonzero(lv[1:] != lv[:-1]).tolist():
            expected.append((name, float(T0 + ts[i]), int(res.levels[i])))
    got = [a for a in alerts if a[0] != "health:link"]
    assert sorted(got) == sorted(expected)
    assert len({a[0] for a in got}) >= 8
    assert eng.counters.invalid == 1
    assert eng.counters.out_of_order == 160
    assert eng.counters.excluded_faulty > 0
