"""Analytics throughput: streaming through the full detector set, batch, and replay.

Targets (issue 3): streaming >= 100,000 readings/s per core for one node, batch >= 1,000,000
readings/s, replay of a 1,000,000-row CSV in < 10 s. Run: .venv/bin/python
tests/benchmarks/bench_analytics.py [--rows N]. Prints figures; asserts nothing.

``--kit-only`` prints just the gateway's per-reading detection cost (issue 17): CPU
microseconds per reading through ``EdgeAnalytics.process`` with the default detector set,
10 nodes, the kit's channels vwc and temp, as the flood feeds them (gently moving values,
millisecond spacing) and as a field node does (noisy values a minute apart); the
gateway's engine (``alerts_only``: no anomaly score while its alerts are off) and one
that runs every detector (the replay's, whose ``levels()`` are read).
``--kit-detail`` adds the Python bytecodes run per reading (a count load does not move:
compare two versions of the code with it on a busy machine) and each detector's CPU per
update.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from types import FrameType

import numpy as np

from siaga.analytics.batch import run_node
from siaga.analytics.cli import main as cli_main
from siaga.analytics.config_load import load_config
from siaga.analytics.detector import Detector
from siaga.analytics.detectors.anomaly import AnomalyDetector
from siaga.analytics.detectors.fire import FireDetector
from siaga.analytics.detectors.health import ChannelHealthDetector
from siaga.analytics.detectors.landslide import LandslideDetector
from siaga.analytics.detectors.threshold import ThresholdDetector
from siaga.analytics.engine import EdgeAnalytics
from siaga.firmware_bridge.channels import reading_unit
from siaga.firmware_bridge.reading import Reading

T0 = 1_790_000_000.0
ALL = ["vwc", "rain", "ext", "tilt", "smoke", "temp", "hum", "pin", "pout", "batt", "rssi"]
TABLE = {"crowd": {"zones": {"z": {"nodes": ["n1"], "capacity": 5000, "area_m2": 2000}}},
         "nodes": {"n1": {"site": "s"}}}


def series(n: int, channels: list[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(n) * (60.0 / len(channels))
    ch = np.array(channels * (n // len(channels) + 1))[:n]
    base = {"vwc": 32, "rain": 0, "ext": 100, "tilt": 1.5, "smoke": 10, "temp": 25,
            "hum": 80, "pin": 2, "pout": 2, "batt": 4.0, "rssi": -80}
    noise = {"vwc": 0.3, "ext": 0.02, "tilt": 0.01, "smoke": 2, "temp": 0.3, "hum": 1,
             "batt": 0.01, "rssi": 3}
    v = np.array([base[c] for c in ch], dtype=float)
    v += rng.normal(0, 1, n) * np.array([noise.get(c, 0.0) for c in ch])
    rain = ch == "rain"
    v[rain] = np.where(rng.random(rain.sum()) < 0.1, 0.2, 0.0)
    counters = (ch == "pin") | (ch == "pout")
    v[counters] = rng.poisson(2, counters.sum())
    return ts, ch, v


def bench_streaming(n: int) -> tuple[float, float]:
    ts, ch, v = series(n, ALL)
    readings = [Reading("n1", c, x, reading_unit(c), t, t, i, "replay")
                for i, (t, c, x) in enumerate(zip(ts.tolist(), ch.tolist(), v.tolist(),
                                                  strict=True))]
    eng = EdgeAnalytics(TABLE)
    for r in readings[:2000]:  # build every route before timing
        eng.process(r)
    started, cpu = time.perf_counter(), time.process_time()
    for r in readings[2000:]:
        eng.process(r)
    took, took_cpu = time.perf_counter() - started, time.process_time() - cpu
    return (n - 2000) / took, (n - 2000) / took_cpu


def kit_readings(n: int, noisy: bool) -> list[Reading]:
    """The flood's stream (sbs_common.payload) or a noisy field one: 10 nodes, vwc + temp."""
    rng = np.random.default_rng(1)
    out = []
    for k in range(n // 2):
        node, t = f"n{k % 10:02d}", T0 + (k // 10) * (60.0 if noisy else 0.001)
        if noisy:
            vwc, temp = 30.0 + rng.normal(0, 0.3), 25.0 + rng.normal(0, 0.3)
        else:
            vwc, temp = 30.0 + (k % 40) * 0.05, 25.0 + (k % 20) * 0.1
        out.append(Reading(node, "vwc", round(vwc, 2), "%", t, t, k, "mqtt"))
        out.append(Reading(node, "temp", round(temp, 1), "degC", t, t, k, "mqtt"))
    return out


def bench_streaming_kit(n: int, noisy: bool, repeat: int = 3, alerts_only: bool = True) -> float:
    """CPU microseconds per reading, the best of ``repeat`` runs of a fresh engine."""
    readings = kit_readings(n, noisy)
    best = math.inf
    for _ in range(repeat):
        eng = EdgeAnalytics(alerts_only=alerts_only)
        for r in readings[:2000]:  # routes built, anomaly warm-up over
            eng.process(r)
        cpu = time.process_time()
        for r in readings[2000:]:
            eng.process(r)
        best = min(best, (time.process_time() - cpu) / (n - 2000) * 1e6)
    return best


def kit_detector_costs(n: int, noisy: bool) -> dict[str, float]:
    """CPU microseconds per update of each detector the kit's readings reach, fed alone
    (best of 3): where ``bench_streaming_kit``'s figure goes. The anomaly entries are the
    engine that runs every detector (``alerts_only=False``, or ``anomaly.emit_alerts`` on);
    the gateway's engine at the defaults does not run them."""
    readings = kit_readings(n, noisy)
    cfg = load_config(None)
    feeds: dict[str, tuple[str, Callable[[], Detector]]] = {
        "health (vwc)": ("vwc", lambda: ChannelHealthDetector("vwc", cfg.health)),
        "landslide (vwc)": ("vwc", lambda: LandslideDetector(
            cfg.landslide, cfg.curve_for("n"), cfg.soil_for("n"), cfg.rain_level_for("n"))),
        "anomaly (vwc)": ("vwc", lambda: AnomalyDetector("vwc", cfg.anomaly)),
        "health (temp)": ("temp", lambda: ChannelHealthDetector("temp", cfg.health)),
        "threshold (temp)": ("temp", lambda: ThresholdDetector(
            "temp", cfg.threshold.channels["temp"])),
        "fire (temp)": ("temp", lambda: FireDetector(cfg.fire)),
        "anomaly (temp)": ("temp", lambda: AnomalyDetector("temp", cfg.anomaly)),
    }
    out = {}
    for label, (channel, build) in feeds.items():
        rows = [(r.node, r.ts, r.value) for r in readings if r.channel == channel]
        best = math.inf
        for _ in range(3):
            dets = {f"n{k:02d}": build() for k in range(10)}
            updates = [(dets[node].update, ts, value) for node, ts, value in rows]
            for update, ts, value in updates[:1000]:
                update(ts, channel, value)
            cpu = time.process_time()
            for update, ts, value in updates[1000:]:
                update(ts, channel, value)
            best = min(best, (time.process_time() - cpu) / (len(rows) - 1000) * 1e6)
        out[label] = best
    return out


def kit_bytecodes(n: int, noisy: bool) -> float:
    """Python bytecodes run per reading through ``EdgeAnalytics.process`` (sys.settrace's
    opcode events): a count the machine's load does not move, for comparing two versions
    of the code on a shared machine; it leaves out what C functions cost inside."""
    readings = kit_readings(n + 4000, noisy)
    eng = EdgeAnalytics(alerts_only=True)
    for r in readings[:4000]:
        eng.process(r)
    count = 0

    def opcodes(frame: FrameType, event: str, arg: object) -> object:
        nonlocal count
        if event == "opcode":
            count += 1
        return opcodes

    def calls(frame: FrameType, event: str, arg: object) -> object:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        return opcodes

    sys.settrace(calls)
    for r in readings[4000:]:
        eng.process(r)
    sys.settrace(None)
    return count / n


def bench_batch(n: int) -> list[tuple[str, float, float]]:
    cfg = load_config(TABLE)
    out = []
    for label, chans in ((f"one node, {len(ALL)} channels", ALL), ("one channel (temp)",
                                                                   ["temp"])):
        ts, ch, v = series(n, chans)
        run_node(cfg, "n1", ts[:50_000], ch[:50_000], v[:50_000])  # warm up
        started, cpu = time.perf_counter(), time.process_time()
        run_node(cfg, "n1", ts, ch, v)
        out.append((label, n / (time.perf_counter() - started),
                    n / (time.process_time() - cpu)))
    return out


def bench_replay(n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    ts, _, v = series(n, ["temp"])
    ts4, ch4, v4 = series(n, ALL)
    with tempfile.TemporaryDirectory() as d:
        single = os.path.join(d, "single.csv")
        with open(single, "w") as f:
            f.write("timestamp,value\n")
            f.write("".join(f"{t:.0f},{x:.3f}\n" for t, x in zip(ts.tolist(), v.tolist(),
                                                                strict=True)))
        multi = os.path.join(d, "multi.csv")
        with open(multi, "w") as f:
            f.write("timestamp,node,channel,value\n")
            f.write("".join(f"{t:.1f},n1,{c},{x:.3f}\n" for t, c, x in
                            zip(ts4.tolist(), ch4.tolist(), v4.tolist(), strict=True)))
        out = os.path.join(d, "out.csv")
        times = []
        for path, extra in ((single, ["--channel", "temp"]), (multi, [])):
            started, cpu = time.perf_counter(), time.process_time()
            cli_main(["replay", path, "-o", out, *extra])
            times.append((time.perf_counter() - started, time.process_time() - cpu))
        t_single, t_multi = times
    return t_single, t_multi


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--stream-rows", type=int, default=200_000)
    p.add_argument("--kit-rows", type=int, default=200_000)
    p.add_argument("--kit-only", action="store_true")
    p.add_argument("--kit-detail", action="store_true",
                   help="also bytecodes per reading and each detector's CPU per update")
    a = p.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(wall figures suffer on a shared machine; CPU figures are per core)")
    for noisy, label in ((False, "flood stream"), (True, "noisy, 60 s apart")):
        for alerts_only, engine in ((True, "the gateway's (alerts_only)"),
                                    (False, "every detector run")):
            us = bench_streaming_kit(a.kit_rows, noisy, alerts_only=alerts_only)
            print(f"streaming, 10 nodes, vwc + temp ({label}), default detectors, {engine}: "
                  f"{us:.2f} us CPU per reading")
    if a.kit_detail:
        for noisy, label in ((False, "flood stream"), (True, "noisy, 60 s apart")):
            print(f"  {label}: {kit_bytecodes(20_000, noisy):.0f} bytecodes per reading (the "
                  "gateway's engine); "
                  "per update, us CPU: " + ", ".join(
                      f"{k} {v:.2f}" for k, v in kit_detector_costs(a.kit_rows,
                                                                     noisy).items()))
    if a.kit_only:
        return
    wall, cpu = bench_streaming(a.stream_rows)
    print(f"streaming, one node, {len(ALL)} channels, full detector set: {wall:,.0f} "
          f"readings/s wall, {cpu:,.0f} readings/s per CPU second (target >= 100,000)")
    for label, wall, cpu in bench_batch(a.rows):
        print(f"batch {a.rows:,} readings, {label}, full set: {wall:,.0f} readings/s wall, "
              f"{cpu:,.0f} per CPU second (target >= 1,000,000)")
    (w1, c1), (w2, c2) = bench_replay(a.rows)
    print(f"replay {a.rows:,}-row timestamp,value CSV: {w1:.2f} s wall, {c1:.2f} s CPU "
          "(target < 10 s)")
    print(f"replay {a.rows:,}-row timestamp,node,channel,value CSV (11 channels): {w2:.2f} s "
          f"wall, {c2:.2f} s CPU")


if __name__ == "__main__":
    main()
