"""The hub's metrics registry, rendered in the Prometheus text exposition format (0.0.4).

Every package registers its own series on ``services.metrics``::

    stored = metrics.counter("siaga_ingest_readings_total", "Readings stored", ("transport",))
    stored.inc(120, transport="http")
    depth = metrics.gauge("siaga_mqtt_queue_depth", "Batches waiting for the pipeline")
    depth.set_function(lambda: queue.qsize())          # read at scrape time
    latency = metrics.histogram("siaga_store_write_seconds", "Telemetry write latency")
    latency.observe(0.012)
    metrics.add_collector(refresh_open_incidents)       # async, awaited before each scrape

Registering the same name twice returns the existing series object when kind, help and labels
agree (so a second hub component can share a counter, and a hot path may ask for its series
each time: the lookup is a dict read) and raises ``ValueError`` when they do not; a
histogram keeps the buckets of its first registration.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar

__all__ = ["DEFAULT_BUCKETS", "Counter", "Gauge", "Histogram", "MetricsRegistry", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

LabelValues = tuple[str, ...]
_M = TypeVar("_M", bound="_Metric")


def _escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 2**53:
        return str(int(v))
    return repr(float(v))


def _labels(names: Sequence[str], values: Sequence[str],
            extra: tuple[str, str] | None = None) -> str:
    pairs = [f'{n}="{_escape_label(v)}"' for n, v in zip(names, values, strict=True)]
    if extra is not None:
        pairs.append(f'{extra[0]}="{_escape_label(extra[1])}"')
    return "{" + ",".join(pairs) + "}" if pairs else ""


class _Metric:
    kind: Literal["counter", "gauge", "histogram"]

    def __init__(self, name: str, help: str, labels: Sequence[str]) -> None:  # noqa: A002
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labels:
            if not _LABEL.match(label) or label.startswith("__") or label == "le":
                raise ValueError(f"invalid label name {label!r} for {name}")
        self.name = name
        self.help = help
        self.label_names: tuple[str, ...] = tuple(labels)

    def _key(self, labels: dict[str, object]) -> LabelValues:
        if set(labels) != set(self.label_names):
            raise ValueError(
                f"{self.name} takes labels {list(self.label_names)}, got {sorted(labels)}"
            )
        return tuple(str(labels[n]) for n in self.label_names)

    def samples(self) -> Iterable[str]:
        raise NotImplementedError

    def render(self) -> str:
        head = f"# HELP {self.name} {_escape_help(self.help)}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(line + "\n" for line in self.samples())


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:  # noqa: A002
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {} if labels else {(): 0.0}

    def inc(self, value: float = 1, **labels: object) -> None:
        if value < 0:
            raise ValueError(f"{self.name}: a counter only goes up (got {value})")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + value

    def value(self, **labels: object) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        for key, v in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_number(v)}"


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:  # noqa: A002
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {} if labels else {(): 0.0}
        self._function: Callable[[], float] | None = None

    def set(self, value: float, **labels: object) -> None:
        self._values[self._key(labels)] = float(value)

    def inc(self, value: float = 1, **labels: object) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + value

    def dec(self, value: float = 1, **labels: object) -> None:
        self.inc(-value, **labels)

    def clear(self) -> None:
        """Forget every label set (before re-setting all of them from a fresh count)."""
        self._values = {} if self.label_names else {(): 0.0}

    def set_function(self, fn: Callable[[], float]) -> None:
        """Read the value from ``fn()`` at each scrape (unlabelled gauges only)."""
        if self.label_names:
            raise ValueError(f"{self.name}: set_function needs an unlabelled gauge")
        self._function = fn

    def value(self, **labels: object) -> float:
        if self._function is not None:
            return float(self._function())
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        if self._function is not None:
            yield f"{self.name} {_number(float(self._function()))}"
            return
        for key, v in sorted(self._values.items()):
            yield f"{self.name}{_labels(self.label_names, key)} {_number(v)}"


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (),  # noqa: A002
                 buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        super().__init__(name, help, labels)
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds:
            raise ValueError(f"{self.name}: at least one finite bucket is needed")
        self.buckets: tuple[float, ...] = (*bounds, math.inf)
        # per label set: [count per bucket (non-cumulative)..., sum]
        self._series: dict[LabelValues, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: object) -> None:
        key = self._key(labels)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = ([0] * len(self.buckets), [0.0])
        counts, total = series
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
                break
        total[0] += value

    def count(self, **labels: object) -> int:
        series = self._series.get(self._key(labels))
        return sum(series[0]) if series else 0

    def samples(self) -> Iterable[str]:
        if not self._series and not self.label_names:
            self._series[()] = ([0] * len(self.buckets), [0.0])
        for key, (counts, total) in sorted(self._series.items()):
            running = 0
            for bound, c in zip(self.buckets, counts, strict=True):
                running += c
                le = "+Inf" if math.isinf(bound) else _number(bound)
                yield f"{self.name}_bucket{_labels(self.label_names, key, ('le', le))} {running}"
            yield f"{self.name}_sum{_labels(self.label_names, key)} {_number(total[0])}"
            yield f"{self.name}_count{_labels(self.label_names, key)} {running}"


class MetricsRegistry:
    """Owns every series of one hub process; ``render()`` is the body of ``GET /metrics``."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._collectors: list[Callable[[], Awaitable[None]]] = []

    def _series(self, kind: type[_M], name: str, help: str,  # noqa: A002
                labels: Sequence[str], *more: Any) -> _M:
        """The registered series ``name``, or a new ``kind(name, help, labels, *more)``
        registered; a lookup builds nothing (a hot path may ask for its series each time)."""
        existing = self._metrics.get(name)
        if existing is None:
            metric = self._metrics[name] = kind(name, help, labels, *more)
            return metric
        if not isinstance(existing, kind) or existing.help != help or (
                existing.label_names != tuple(labels)):
            raise ValueError(f"metric {name} is already registered differently")
        return existing

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:  # noqa: A002
        return self._series(Counter, name, help, labels)

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:  # noqa: A002
        return self._series(Gauge, name, help, labels)

    def histogram(self, name: str, help: str, labels: Sequence[str] = (),  # noqa: A002
                  buckets: Sequence[float] = DEFAULT_BUCKETS) -> Histogram:
        return self._series(Histogram, name, help, labels, buckets)

    def add_collector(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Await ``fn()`` before each scrape, e.g. to set gauges from a database count."""
        self._collectors.append(fn)

    def get(self, name: str) -> Counter | Gauge | Histogram | None:
        m = self._metrics.get(name)
        return m if isinstance(m, Counter | Gauge | Histogram) else None

    async def collect(self) -> str:
        """Run the collectors (concurrently; a failing one is counted, not fatal), then render."""
        if self._collectors:
            results = await asyncio.gather(*(c() for c in self._collectors),
                                           return_exceptions=True)
            failures = sum(isinstance(r, BaseException) for r in results)
            if failures:
                self.counter("siaga_metrics_collector_errors_total",
                             "Metric collectors that failed during a scrape").inc(failures)
        return self.render()

    def render(self) -> str:
        return "".join(m.render() for _, m in sorted(self._metrics.items()))
