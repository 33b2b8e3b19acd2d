"""The whole detector set over one node's recorded series at once (replays, backfills).

Applies the engine's rules in vectorised form, so a batch run equals feeding the same
rows through ``EdgeAnalytics.process`` in time order: non-finite values and rows older
than the previous row of the same channel are dropped, a faulty channel's rows reach no
hazard detector, and levels carry forward over rows a detector does not consume.
Fire neighbours and the shared site rain gauge are not modelled here (one node at a
time); a crowd zone with several gates runs through ``run_zone`` over all its gates'
rows; link health (silence, gaps) needs the gateway and is streaming only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from siaga.analytics.config import AnalyticsConfig, ZoneConfig
from siaga.analytics.detector import BatchResult, Detector, StrArray
from siaga.analytics.detectors.crowd import CrowdDetector
from siaga.analytics.detectors.health import ChannelHealthDetector
from siaga.analytics.detectors.threshold import run_lengths
from siaga.analytics.hysteresis import FloatArray
from siaga.analytics.registry import ANOMALY_DETECTORS, REGISTRY


@dataclass(frozen=True, slots=True)
class NodeBatch:
    accepted: npt.NDArray[np.bool_]  # finite and in order
    faulty: npt.NDArray[np.bool_]  # accepted but kept from hazard detectors
    results: dict[str, BatchResult]  # alert detector name -> per-row result

    def level(self, names: list[str] | None = None) -> npt.NDArray[np.int8]:
        chosen = [r.levels for k, r in self.results.items() if names is None or k in names]
        if not chosen:
            return np.ones(len(self.accepted), dtype=np.int8)
        levels: npt.NDArray[np.int8] = np.maximum.reduce(chosen)
        return levels


def accepted_rows(ts: FloatArray, codes: np.ndarray, values: FloatArray) -> np.ndarray:
    """Finite rows not older than the previous accepted row of the same channel code."""
    ok = np.isfinite(values) & np.isfinite(ts)
    for code in np.unique(codes):
        rows = np.flatnonzero((codes == code) & ok)
        t = ts[rows]
        ok[rows] = t >= np.maximum.accumulate(t) if len(t) else True
    return ok


def channel_rows(channels: StrArray) -> dict[str, np.ndarray]:
    """Row indices of each distinct channel name, names in sorted order.

    One string comparison per distinct name (few of them) instead of np.unique, which
    sorts or hashes every string.
    """
    n = len(channels)
    found: dict[str, np.ndarray] = {}
    seen = np.zeros(n, dtype=bool)
    first = 0
    while first < n:
        name = str(channels[first])
        mask = channels == name
        found[name] = np.flatnonzero(mask)
        seen |= mask
        rest = int(np.argmin(seen[first:])) + first
        first = rest if not seen[rest] else n
    return {name: found[name] for name in sorted(found)}


def _in_order(ts: FloatArray, values: FloatArray, rows: np.ndarray) -> np.ndarray:
    """``rows`` (one channel) that are finite and not older than an earlier accepted one."""
    rows = rows[np.isfinite(values[rows]) & np.isfinite(ts[rows])]
    t = ts[rows]
    if len(t) > 1 and not (t[1:] >= t[:-1]).all():
        rows = rows[t >= np.maximum.accumulate(t)]
    return rows


def run_node(cfg: AnalyticsConfig, node: str, ts: FloatArray, channels: StrArray,
             values: FloatArray, detectors: list[str] | None = None,
             anomaly_channels: tuple[str, ...] | None = None,
             with_metrics: bool = False) -> NodeBatch:
    """``ts`` must be in time order; ``detectors`` limits which registry names run.

    Results hold levels and scores for every row; detector metrics too with
    ``with_metrics`` (they cost a pass over all rows each).
    """
    n = len(ts)
    enabled = set(detectors if detectors is not None else cfg.detectors)
    if "health" in enabled:
        enabled.add("battery")
    # Each channel's accepted rows, found once and shared by every detector below.
    accepted = {ch: _in_order(ts, values, rows) for ch, rows in channel_rows(channels).items()}
    accepted = {ch: rows for ch, rows in accepted.items() if len(rows)}
    acc = np.zeros(n, dtype=bool)
    for rows in accepted.values():
        acc[rows] = True
    faulty = np.zeros(n, dtype=bool)
    results: dict[str, BatchResult] = {}
    present = list(accepted)
    by_channel = accepted
    # Per set of channels: its rows, their run lengths and the gathered columns, shared by
    # every detector over that set (detectors do not write to their inputs).
    inputs: dict[frozenset[str], tuple[np.ndarray, np.ndarray, FloatArray, StrArray,
                                       FloatArray]] = {}
    if "health" in enabled:
        by_channel = {}
        for ch, rows in accepted.items():
            cols = ts[rows], channels[rows], values[rows]
            r = ChannelHealthDetector(ch, cfg.health).batch(*cols)
            bad = r.levels >= 3
            counts = run_lengths(n, rows)
            results[f"health:{ch}"] = _lift(n, rows, r, counts, with_metrics)
            if bad.any():
                faulty[rows[bad]] = True
                by_channel[ch] = rows[~bad]
            else:
                by_channel[ch] = rows
                inputs[frozenset({ch})] = (rows, counts, *cols)
    anomaly_chs = anomaly_channels if anomaly_channels is not None else cfg.anomaly.channels

    def run(det: Detector, names: frozenset[str]) -> BatchResult:
        # Each detector sees only its channels' rows; levels are carried onto all rows.
        key = frozenset(ch for ch in names if ch in by_channel)
        if key not in inputs:
            parts = [by_channel[ch] for ch in sorted(key)]
            if len(parts) > 1:
                mask = np.zeros(n, dtype=bool)
                for p in parts:
                    mask[p] = True
                rows = np.flatnonzero(mask)
            else:
                rows = parts[0] if parts else np.zeros(0, dtype=np.int64)
            inputs[key] = (rows, run_lengths(n, rows), ts[rows], channels[rows], values[rows])
        rows, counts, t, c, v = inputs[key]
        return _lift(n, rows, det.batch(t, c, v), counts, with_metrics)

    for name, spec in REGISTRY.items():
        if name not in enabled or not spec.hazard_input:
            continue
        if spec.scope == "node":
            assert spec.channels is not None
            if not any(ch in spec.channels for ch in present):
                continue
            det = spec.build(cfg, node, None)
            if det is not None:
                results[name] = run(det, spec.channels)
        elif spec.scope == "channel":
            for ch in present:
                if spec.channels is not None and ch not in spec.channels:
                    continue
                if name in ANOMALY_DETECTORS:
                    if ch not in anomaly_chs:
                        continue
                    det = spec.build(_with_anomaly_channel(cfg, ch), node, ch)
                else:
                    det = spec.build(cfg, node, ch)
                if det is not None:
                    key = "battery" if name == "battery" else f"{name}:{ch}"
                    results[key] = run(det, frozenset({ch}))
        elif name == "crowd" and not CrowdDetector.channels.isdisjoint(present):
            for zname, zone in cfg.crowd.zones.items():
                if zone.nodes == (node,):  # a zone with several gates: run_zone
                    results[f"crowd:{zname}"] = run(CrowdDetector(cfg.crowd, zname, zone),
                                                    CrowdDetector.channels)
    return NodeBatch(acc, faulty, results)


def run_zone(cfg: AnalyticsConfig, zone_name: str, zone: ZoneConfig, ts: FloatArray,
             nodes: StrArray, channels: StrArray, values: FloatArray) -> BatchResult:
    """Crowd over the merged rows of all of a zone's gates (time order), with the
    engine's rules: rows of other nodes or channels, non-finite or late rows (per node
    and channel) and negative increments (a counter fault) leave the level unchanged."""
    n = len(ts)
    mine = np.isin(nodes, zone.nodes) & np.isin(channels, list(CrowdDetector.channels))
    keys = np.char.add(np.char.add(nodes.astype(str), "\x00"), channels.astype(str))
    codes = np.zeros(n, dtype=np.int32)
    for k, key in enumerate(np.unique(keys[mine]).tolist()):
        codes[keys == key] = k + 1
    use = mine & accepted_rows(ts, codes, values) & (values >= 0)
    rows = np.flatnonzero(use)
    r = CrowdDetector(cfg.crowd, zone_name, zone).batch(ts[rows], channels[rows], values[rows])
    return _lift(n, rows, r, run_lengths(n, rows), False)


def _with_anomaly_channel(cfg: AnalyticsConfig, ch: str) -> AnalyticsConfig:
    if ch in cfg.anomaly.channels:
        return cfg
    return replace(cfg, anomaly=replace(cfg.anomaly, channels=(*cfg.anomaly.channels, ch)))


def _lift(n: int, rows: np.ndarray, r: BatchResult, counts: np.ndarray,
          with_metrics: bool) -> BatchResult:
    """A result over a subset of rows, carried forward onto all ``n`` rows."""
    if len(rows) == n:
        return r if with_metrics else BatchResult(r.levels, r.scores)
    metrics = {k: np.repeat(np.r_[np.nan, v], counts) for k, v in r.metrics.items()} \
        if with_metrics else {}
    if r.scores.any() or np.signbit(r.scores).any():
        scores = np.repeat(np.r_[0.0, r.scores], counts)
    else:
        # All +0.0 (an all-clear hazard detector, the usual case): calloc'd zeros, whose
        # pages the OS maps only when read or written, where a copy would touch 8 bytes a row.
        scores = np.zeros(n)
    return BatchResult(np.repeat(np.r_[np.int8(1), r.levels], counts), scores, metrics)
