"""Replay a recorded CSV through the batch detectors and write levels and anomaly scores.

Input columns: ``timestamp,value`` (one series) or ``timestamp,node,channel,value``.
Timestamps are epoch seconds or ISO 8601 (``Z``, an offset, or none meaning UTC).
Output repeats each input line and adds ``anomaly_score`` (0..1) and ``level`` (1..4).
Rows that cannot be parsed are skipped, counted and named (first few) on stderr; rows
are processed per node in time order (stable), and written back in input order.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

import numpy as np

from siaga.analytics.batch import run_node, run_zone
from siaga.analytics.config import AnalyticsConfig
from siaga.analytics.detectors.crowd import CrowdDetector
from siaga.analytics.errors import ReplayInputError
from siaga.analytics.registry import ANOMALY_DETECTORS, REGISTRY

SINGLE = ("timestamp", "value")
MULTI = ("timestamp", "node", "channel", "value")
SERIES_NODE = "series"


@dataclass(slots=True)
class ReplayReport:
    rows: int = 0
    skipped: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)


Progress = Callable[[str, float], None]


def parse_times(texts: list[str]) -> np.ndarray:
    """Epoch seconds or ISO 8601 strings -> float seconds; unparseable -> nan."""
    try:
        return np.array(texts, dtype=np.float64)
    except ValueError:
        pass
    if all(s.endswith("Z") for s in texts):
        try:
            us = np.array([s[:-1] for s in texts], dtype="datetime64[us]")
            return us.astype(np.int64) / 1e6
        except ValueError:
            pass
    out = np.empty(len(texts))
    for i, s in enumerate(texts):
        out[i] = _one_time(s)
    return out


def _one_time(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return float("nan")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _floats(texts: list[str]) -> np.ndarray:
    try:
        return np.array(texts, dtype=np.float64)
    except ValueError:
        out = np.empty(len(texts))
        for i, s in enumerate(texts):
            try:
                out[i] = float(s)
            except ValueError:
                out[i] = np.nan
        return out


def _split_columns(lines: list[str], width: int) -> tuple[np.ndarray, list[list[str]]]:
    """Columns of the body as lists of strings, and which lines had the right width.

    The common case (every line well formed) splits the whole body in one call; only a
    file with malformed lines pays for splitting line by line.
    """
    n = len(lines)
    commas = [ln.count(",") for ln in lines]
    if commas.count(width - 1) == n:
        tokens = ",".join(lines).split(",") if n else []
        cols = [tokens[k::width] for k in range(width)]
        for k in (1, 2) if width == 4 else ():
            if any(t != t.strip() for t in set(cols[k])):
                cols[k] = [t.strip() for t in cols[k]]
        return np.ones(n, dtype=bool), cols
    good = np.array([c == width - 1 for c in commas], dtype=bool)
    filler = [""] * width
    parts = [ln.split(",") if ok else filler for ln, ok in zip(lines, good.tolist(),
                                                                strict=True)]
    return good, [[p[k].strip() for p in parts] for k in range(width)]


def replay(inp: TextIO, out: TextIO, cfg: AnalyticsConfig, *, path: str = "<input>",
           detector: str | None = None, channel: str = "value",
           progress: Progress | None = None) -> ReplayReport:
    if detector is not None and detector not in REGISTRY:
        raise ReplayInputError(path, 1, f"unknown detector {detector!r}; known: "
                               + ", ".join(REGISTRY))
    tick = progress or (lambda stage, frac: None)
    header = inp.readline().rstrip("\r\n")
    cols = tuple(c.strip() for c in header.split(","))
    if cols not in (SINGLE, MULTI):
        raise ReplayInputError(path, 1, "header must be 'timestamp,value' or "
                               f"'timestamp,node,channel,value', got {header!r}")
    width = len(cols)
    lines = inp.read().splitlines()
    tick("reading", 1.0)
    report = ReplayReport(rows=len(lines))
    good, columns = _split_columns(lines, width)
    ts = parse_times(columns[0])
    values = _floats(columns[-1])
    if width == 4:
        nodes = np.array(columns[1])
        channels = np.array(columns[2])
    else:
        nodes = np.full(len(lines), SERIES_NODE)
        channels = np.full(len(lines), channel)
    good &= ~np.isnan(ts)
    # A value that does not parse is a bad line; "nan" is a valid (ignored) reading.
    for i in np.flatnonzero(np.isnan(values)).tolist():
        if columns[-1][i].strip().lower() != "nan":
            good[i] = False
    for i in np.flatnonzero(~good)[:10].tolist():
        report.bad_lines.append((i + 2, lines[i][:80]))
    report.skipped = int((~good).sum())
    tick("parsing", 1.0)
    level = np.ones(len(lines), dtype=np.int8)
    score = np.zeros(len(lines))
    names = [detector] if detector else None
    node_names = np.unique(nodes[good])
    for k, node in enumerate(node_names.tolist()):
        rows = np.flatnonzero(good & (nodes == node))
        rows = rows[np.argsort(ts[rows], kind="stable")]
        extra = (channel,) if width == 2 else None
        nb = run_node(cfg, node, ts[rows], channels[rows], values[rows], names, extra)
        keys = list(nb.results)
        anomaly = [kk for kk in keys if kk.split(":")[0] in ANOMALY_DETECTORS]
        level[rows] = nb.level()
        if detector in ANOMALY_DETECTORS or detector is None:
            for kk in anomaly:
                ch = kk.split(":", 1)[1]
                mine = channels[rows] == ch
                score[rows[mine]] = np.maximum(score[rows[mine]], nb.results[kk].scores[mine])
        else:
            score[rows] = (level[rows] - 1) / 3.0
        tick("detecting", (k + 1) / len(node_names))
    if width == 4 and detector in (None, "crowd") and "crowd" in cfg.detectors:
        _zones(cfg, good, ts, nodes, channels, values, level, score, detector)
    out.write(header + ",anomaly_score,level\n")
    chunk = 200_000
    for s in range(0, len(lines), chunk):
        e = min(s + chunk, len(lines))
        sc = score[s:e].tolist()
        lv = level[s:e].tolist()
        out.write("".join(f"{lines[i]},{sc[i - s]:.6f},{lv[i - s]}\n" for i in range(s, e)
                          if good[i]))
        tick("writing", e / max(len(lines), 1))
    return report


def _zones(cfg: AnalyticsConfig, good: np.ndarray, ts: np.ndarray, nodes: np.ndarray,
           channels: np.ndarray, values: np.ndarray, level: np.ndarray, score: np.ndarray,
           detector: str | None) -> None:
    """Crowd zones with several gates: their level lands on the gates' counter rows."""
    for zname, zone in cfg.crowd.zones.items():
        if len(zone.nodes) < 2:
            continue  # a one-gate zone already ran with its node
        rows = np.flatnonzero(good & np.isin(nodes, zone.nodes))
        rows = rows[np.argsort(ts[rows], kind="stable")]
        res = run_zone(cfg, zname, zone, ts[rows], nodes[rows], channels[rows], values[rows])
        counters = np.isin(channels[rows], list(CrowdDetector.channels))
        hit = rows[counters]
        level[hit] = np.maximum(level[hit], res.levels[counters])
        if detector == "crowd":
            score[hit] = (level[hit] - 1) / 3.0


def stderr_progress(total_rows_hint: int) -> Progress:
    """A one-line progress bar on stderr, shown only for large inputs."""
    def show(stage: str, frac: float) -> None:
        if total_rows_hint < 100_000:
            return
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r{stage:<10} [{bar:<30}] {frac * 100:5.1f}%")
        if frac >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return show
