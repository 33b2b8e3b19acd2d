"""Counters of what the gateway saw, per source and per node; owned by the core thread.

Only the core thread updates them (no locks); other threads and processes read the
snapshot the core writes to the status file (``gateway.status_file``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)

COUNTER_NAMES = (
    "frames_ok", "crc_errors", "malformed", "gaps", "duplicates", "reboots", "readings",
    "clock_skewed", "late", "too_late",
)


@dataclass(slots=True)
class Counters:
    frames_ok: int = 0
    crc_errors: int = 0  # frames whose checksum did not match
    malformed: int = 0  # everything else a decoder rejected (grammar, length, JSON, ranges)
    gaps: int = 0  # frames lost, from sequence numbers
    duplicates: int = 0  # frames dropped because their sequence number was just seen
    reboots: int = 0
    readings: int = 0
    clock_skewed: int = 0
    late: int = 0  # readings that arrived well after their time (a node's backlog)
    too_late: int = 0  # late beyond gateway.detection_order.MAX_LATE_S: no detector saw them

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def is_crc_reason(reason: str) -> bool:
    return "crc" in reason.lower()


@dataclass(slots=True)
class GatewayStats:
    totals: Counters = field(default_factory=Counters)
    sources: dict[str, Counters] = field(default_factory=dict)
    nodes: dict[str, Counters] = field(default_factory=dict)
    # Decode errors by reason, per source: tells a field engineer *why* frames fail.
    error_reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    alerts: int = 0
    internal_errors: int = 0  # messages or batches a gateway bug failed on (logged)
    commits: int = 0  # buffer transactions (group commit: one per gathered batch)
    # (monotonic time, commits) at the previous rate reading: commits per second
    # over the interval since, so a status reader sees the current rate.
    _rate_mark: tuple[float, int] | None = None
    _commits_per_s: float = 0.0

    def commit_rate(self, mono: float | None = None) -> float:
        """Commits per second since the previous call (the status and log cadence)."""
        if mono is None:
            mono = time.monotonic()
        mark = self._rate_mark
        if mark is not None and mono - mark[0] >= 0.5:
            self._commits_per_s = (self.commits - mark[1]) / (mono - mark[0])
        if mark is None or mono - mark[0] >= 0.5:
            self._rate_mark = (mono, self.commits)
        return self._commits_per_s

    def source(self, name: str) -> Counters:
        c = self.sources.get(name)
        if c is None:
            c = self.sources[name] = Counters()
        return c

    def node(self, name: str) -> Counters:
        c = self.nodes.get(name)
        if c is None:
            c = self.nodes[name] = Counters()
        return c

    def frame_ok(self, source: str, node: str) -> None:
        self.totals.frames_ok += 1
        self.source(source).frames_ok += 1
        self.node(node).frames_ok += 1

    def decode_error(self, source: str, reason: str) -> None:
        crc = is_crc_reason(reason)
        src = self.source(source)
        if crc:
            self.totals.crc_errors += 1
            src.crc_errors += 1
        else:
            self.totals.malformed += 1
            src.malformed += 1
        reasons = self.error_reasons.setdefault(source, {})
        reasons[reason] = reasons.get(reason, 0) + 1

    def gap(self, source: str, node: str, missing: int) -> None:
        self.totals.gaps += missing
        self.source(source).gaps += missing
        self.node(node).gaps += missing

    def duplicate(self, source: str, node: str) -> None:
        self.totals.duplicates += 1
        self.source(source).duplicates += 1
        self.node(node).duplicates += 1

    def reboot(self, source: str, node: str) -> None:
        self.totals.reboots += 1
        self.source(source).reboots += 1
        self.node(node).reboots += 1

    def readings(self, source: str, node: str, count: int, skewed: int, late: int = 0) -> None:
        totals, src, n = self.totals, self.source(source), self.node(node)
        totals.readings += count
        src.readings += count
        n.readings += count
        if skewed:
            totals.clock_skewed += skewed
            src.clock_skewed += skewed
            n.clock_skewed += skewed
        if late:
            totals.late += late
            src.late += late
            n.late += late

    def too_late(self, node: str, count: int) -> None:
        self.totals.too_late += count
        self.node(node).too_late += count

    def snapshot(self, mono: float | None = None) -> dict[str, Any]:
        return {
            "totals": self.totals.as_dict(),
            "alerts": self.alerts,
            "internal_errors": self.internal_errors,
            "commits": self.commits,
            "commits_per_s": round(self.commit_rate(mono), 1),
            "sources": {k: v.as_dict() for k, v in sorted(self.sources.items())},
            "error_reasons": {k: dict(v) for k, v in sorted(self.error_reasons.items())},
            "nodes": {k: v.as_dict() for k, v in sorted(self.nodes.items())},
        }

    def summary_line(self, mono: float | None = None) -> str:
        t = self.totals
        return (
            f"frames_ok={t.frames_ok} readings={t.readings} crc_errors={t.crc_errors} "
            f"malformed={t.malformed} gaps={t.gaps} duplicates={t.duplicates} "
            f"reboots={t.reboots} clock_skewed={t.clock_skewed} late={t.late} "
            f"too_late={t.too_late} alerts={self.alerts} "
            f"internal_errors={self.internal_errors} commits={self.commits} "
            f"commits_per_s={self.commit_rate(mono):.1f} "
            f"nodes={len(self.nodes)}"
        )
