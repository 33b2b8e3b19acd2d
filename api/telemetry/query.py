"""The telemetry query API's logic: defaults, limits, errors, answers (the route only binds).

A query's parameters arrive as the client wrote them (``from``/``to`` as epoch ms or ISO
8601, ``every`` as a duration, ``agg`` as a list); what is wrong with them is an
:class:`~api.errors.InvalidInput` naming the parameter, and a failing store is
:class:`~api.errors.Unavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from siaga.api.errors import InvalidInput, Unavailable
from siaga.api.telemetry.errors import TelemetryError
from siaga.api.telemetry.models import LatestOut, NodeLatestOut
from siaga.api.telemetry.query_params import parse_aggregates, parse_every, parse_time
from siaga.api.telemetry.store import TelemetryStore
from siaga.firmware_bridge.channels import reading_unit

__all__ = [
    "DAY_MS",
    "DEFAULT_LIMIT",
    "MAX_BUCKETS",
    "MAX_LIMIT",
    "ReadingsQuery",
    "latest",
    "readings",
]

DAY_MS = 86_400_000
MAX_BUCKETS = 100_000
MAX_LIMIT = 100_000
DEFAULT_LIMIT = 10_000


def _invalid(message: str, name: str, msg: str) -> InvalidInput:
    return InvalidInput(message, errors=[{"loc": ["query", name], "msg": msg,
                                          "type": "value_error"}])


@dataclass(frozen=True, slots=True)
class ReadingsQuery:
    """``GET /api/v1/nodes/{node}/readings`` as asked (None: the parameter was left out)."""

    node: str
    channel: str
    start: str | None = None
    end: str | None = None
    every: str | None = None
    agg: str | None = None
    limit: int = DEFAULT_LIMIT


async def readings(store: TelemetryStore, q: ReadingsQuery, now_ms: int) -> dict[str, Any]:
    """Raw or aggregated readings over ``[from, to)``, as ReadingsOut's JSON shape.

    Built as plain JSON: validating 100,000 response objects would cost more than the query.
    The shape is :class:`~api.telemetry.models.ReadingsOut`'s (checked by the schema fuzz run).
    """
    end = parse_time(q.end, "to") if q.end is not None else now_ms
    start = parse_time(q.start, "from") if q.start is not None else end - DAY_MS
    if start > end:
        raise _invalid("from is after to", "from", "after to")
    head = {"node": q.node, "channel": q.channel, "unit": reading_unit(q.channel),
            "from": start, "to": end}
    if q.every is None:
        if q.agg is not None:
            raise _invalid("agg needs every (the interval to aggregate over)", "agg",
                           "needs every")
        try:
            points = await store.readings(q.node, q.channel, start, end, q.limit)
        except TelemetryError as e:
            raise Unavailable(f"telemetry query failed: {e}") from e
        return {**head, "readings": [{"ts": p.ts, "value": p.value, "seq": p.seq,
                                      "gateway": p.gateway} for p in points]}
    step = parse_every(q.every)
    wanted = parse_aggregates(q.agg)
    if (end - start) // step > MAX_BUCKETS:
        raise _invalid(f"more than {MAX_BUCKETS} intervals; choose a larger every", "every",
                       "too small")
    try:
        rows = await store.aggregate(q.node, q.channel, start, end, step)
    except TelemetryError as e:
        raise Unavailable(f"telemetry query failed: {e}") from e
    return {**head, "every": step, "agg": list(wanted),
            "intervals": [{"ts": r.ts, "count": r.count, **{a: getattr(r, a) for a in wanted}}
                          for r in rows]}


async def latest(store: TelemetryStore, node: str) -> NodeLatestOut:
    """The newest reading of every channel of ``node``."""
    try:
        rows = await store.latest(node)
    except TelemetryError as e:
        raise Unavailable(f"telemetry query failed: {e}") from e
    return NodeLatestOut(node=node, channels=[
        LatestOut(channel=r.channel, unit=reading_unit(r.channel), ts=r.ts, value=r.value)
        for r in rows])
