"""A scenario: virtual nodes on shared physics, with the ground truth of what happens.

``Scenario.messages()`` merges every node's output in time order; the labels say
when each hazard or fault truly starts (``start_ts``), when it becomes the
dangerous state a detector exists to warn about (``critical_ts``, found while the
scenario runs, e.g. the slope's soil reaching 90 % of saturation), and when it
ends. ``ScenarioRun`` is one finished run kept in memory, for evaluations.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from siaga.firmware_bridge.channels import (
    COUNTER_CHANNELS,
    COUNTER_MODULUS,
    DEFAULT_MM_PER_TIP,
    reading_unit,
)
from siaga.firmware_bridge.reading import Reading
from siaga.simulators.node import NodeMessage, VirtualNode


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth: ``hazard`` (landslide, flood, fire, crowd, sensor_fault) at ``node``.

    ``cause`` names what happened (storm, market_fire, crowd_event, or the fault:
    stuck, dropout, reboot, spike, out_of_range, low_battery). ``channel`` is the
    faulty channel for channel faults. Times are POSIX seconds of simulated time.
    """

    hazard: str
    node: str
    cause: str
    start_ts: float
    end_ts: float
    site: str | None = None
    channel: str | None = None
    critical_ts: float | None = None


@dataclass(frozen=True, slots=True)
class Site:
    """A place in the scenario, with what a detector needs to know about it.

    ``params`` holds e.g. a zone's ``capacity`` (persons) and ``area_m2``, or a
    slope's soil ``field_capacity`` and ``saturation`` (% vwc, the average of its
    probes; each node's own calibration is in its ``NodeInfo.calibration``).
    """

    name: str
    kind: str  # slope, market, square, town
    description: str
    lat: float
    lon: float
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node: str
    kind: str
    site: str | None
    interval_s: float
    channels: tuple[str, ...]
    calibration: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sample:
    """One channel value of one data message, as the node printed it (counters raw)."""

    ts: float
    node: str
    channel: str
    value: float
    seq: int


@dataclass(frozen=True, slots=True)
class Watch:
    """Fills ``critical_ts`` of the label at ``label_index`` the first time ``reached(ts)``."""

    label_index: int
    reached: Callable[[float], bool]


class Scenario:
    def __init__(self, name: str, description: str, *, seed: int, start_ts: float,
                 duration_s: float, nodes: list[VirtualNode], labels: list[Label],
                 sites: list[Site], watches: list[Watch]) -> None:
        self.name = name
        self.description = description
        self.seed = seed
        self.start_ts = start_ts
        self.duration_s = duration_s
        self.nodes = {n.node_id: n for n in nodes}
        self.sites = {s.name: s for s in sites}
        self._labels = list(labels)
        self._watches = list(watches)

    @property
    def end_ts(self) -> float:
        return self.start_ts + self.duration_s

    @property
    def labels(self) -> list[Label]:
        """The labels, with every ``critical_ts`` reached so far filled in."""
        return list(self._labels)

    def node_info(self) -> dict[str, NodeInfo]:
        return {
            n.node_id: NodeInfo(n.node_id, n.kind, n.site, n.interval_s, n.channels,
                                dict(n.calibration))
            for n in self.nodes.values()
        }

    def messages(self, until_ts: float | None = None) -> Iterator[NodeMessage]:
        """Every node's messages in time order, up to ``until_ts`` (default: the end;
        ``math.inf`` runs for ever)."""
        until = self.end_ts if until_ts is None else until_ts
        heap = [(n.next_ts, i, n) for i, n in enumerate(self.nodes.values())]
        heapq.heapify(heap)
        while heap:
            ts, i, node = heap[0]
            if ts > until:
                return
            message = node.step()
            heapq.heapreplace(heap, (node.next_ts, i, node))
            self._check_watches(ts)
            if message is not None:
                yield message

    def _check_watches(self, ts: float) -> None:
        if not self._watches:
            return
        remaining = []
        for w in self._watches:
            label = self._labels[w.label_index]
            if ts >= label.start_ts and w.reached(ts):
                self._labels[w.label_index] = dataclasses.replace(label, critical_ts=ts)
            else:
                remaining.append(w)
        self._watches = remaining


@dataclass(frozen=True, slots=True)
class ScenarioRun:
    """A whole run in memory: every message, and the labels as the run found them."""

    name: str
    seed: int
    start_ts: float
    end_ts: float
    nodes: dict[str, NodeInfo]
    sites: dict[str, Site]
    labels: list[Label]
    messages: list[NodeMessage]

    @property
    def samples(self) -> list[Sample]:
        return [
            Sample(m.ts, m.node, channel, float(value), m.seq)
            for m in self.messages
            if m.type == "D"
            for channel, value in m.fields.items()
            if isinstance(value, int | float)
        ]

    def series(self, node: str, channel: str) -> tuple[list[float], list[float]]:
        """(times, values) of one channel of one node, raw as printed."""
        times: list[float] = []
        values: list[float] = []
        for m in self.messages:
            if m.type == "D" and m.node == node and channel in m.fields:
                times.append(m.ts)
                values.append(float(m.fields[channel]))
        return times, values

    def readings(self, mm_per_tip: float | None = None) -> list[Reading]:
        """The run as the gateway would hand it to detectors: counters as increments
        (rain in mm at each node's ``mm_per_tip`` calibration, else ``mm_per_tip``,
        else 0.2), a counter that went down marked ``counter_reset`` with the
        new count as its increment. Timestamps are the nodes' own (no receive delay).
        Data frames only: hello and event frames use up seq numbers too, so the seq
        of consecutive readings of a node jumps by one across each hello (every
        10 minutes) without any frame lost; count gaps from ``messages``."""
        fallback = DEFAULT_MM_PER_TIP if mm_per_tip is None else mm_per_tip
        tip = {n: info.calibration.get("mm_per_tip", fallback) for n, info in self.nodes.items()}
        last: dict[tuple[str, str], float] = {}
        out: list[Reading] = []
        for m in self.messages:
            if m.type != "D":
                continue
            for channel, raw in m.fields.items():
                if not isinstance(raw, int | float):
                    continue
                value, reset, raw_count = float(raw), False, None
                if channel in COUNTER_CHANNELS:
                    raw_count = float(raw)
                    prev = last.get((m.node, channel))
                    last[(m.node, channel)] = raw_count
                    if prev is None:
                        delta = 0.0
                    elif raw_count >= prev:
                        delta = raw_count - prev
                    elif prev > COUNTER_MODULUS * 0.9 and raw_count < COUNTER_MODULUS * 0.1:
                        delta = raw_count + COUNTER_MODULUS - prev
                    else:
                        delta, reset = raw_count, True
                    value = delta * tip.get(m.node, fallback) if channel == "rain" else delta
                out.append(Reading(
                    node=m.node, channel=channel, value=value, unit=reading_unit(channel),
                    ts=m.ts, received_at=m.ts, seq=m.seq, source="replay", raw=raw_count,
                    counter_reset=reset,
                ))
        return out


def run_to_end(scenario: Scenario) -> ScenarioRun:
    messages = list(scenario.messages())
    return ScenarioRun(
        name=scenario.name, seed=scenario.seed, start_ts=scenario.start_ts,
        end_ts=scenario.end_ts, nodes=scenario.node_info(), sites=dict(scenario.sites),
        labels=scenario.labels, messages=messages,
    )
