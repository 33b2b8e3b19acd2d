"""The telemetry query API: raw or aggregated readings of a node's channel, and its latest values.

Times are milliseconds since the epoch (UTC) in answers; ``from``/``to`` also take ISO 8601.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from siaga.api.deps import CurrentStaff, ServicesDep
from siaga.api.errors import InvalidInput, Unavailable, problem_responses
from siaga.api.telemetry.errors import TelemetryError
from siaga.api.telemetry.query_params import parse_aggregates, parse_every, parse_time
from siaga.api.telemetry.store import TelemetryStore
from siaga.firmware_bridge.channels import reading_unit

__all__ = ["router"]

router = APIRouter(tags=["telemetry"])

DAY_MS = 86_400_000
MAX_BUCKETS = 100_000
MAX_LIMIT = 100_000
# The wire's identifier rule (api/ingest/wire.py): a name no reading can carry finds nothing.
IDENT = r"^[^\x00-\x1f\x7f\\]+$"

NodeId = Annotated[str, Path(min_length=1, max_length=128, pattern=IDENT)]


class ReadingOut(BaseModel):
    ts: int = Field(description="ms since the epoch, UTC")
    value: float
    seq: int
    gateway: str


class AggregateOut(BaseModel):
    ts: int = Field(description="Start of the interval, ms since the epoch (epoch-aligned)")
    count: int
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    sum: float | None = None


class ReadingsOut(BaseModel):
    node: str
    channel: str
    unit: str
    from_: int = Field(alias="from")
    to: int
    every: int | None = Field(default=None, description="Interval in ms when aggregated")
    agg: list[str] | None = None
    readings: list[ReadingOut] | None = Field(default=None, description="Raw readings")
    intervals: list[AggregateOut] | None = Field(default=None,
                                                 description="Aggregates; empty ones left out")


class LatestOut(BaseModel):
    channel: str
    unit: str
    ts: int
    value: float


class NodeLatestOut(BaseModel):
    node: str
    channels: list[LatestOut]


def _store(services: ServicesDep) -> TelemetryStore:
    if services.telemetry is None:
        raise Unavailable("the telemetry store is not running")
    store: TelemetryStore = services.telemetry
    return store


@router.get(
    "/api/v1/nodes/{node}/readings",
    response_model=ReadingsOut,
    response_model_exclude_none=True,
    response_model_by_alias=True,
    summary="Raw or aggregated readings of one channel of a node over [from, to)",
    responses=problem_responses(401, 422, 503),
)
async def readings(
    node: NodeId,
    staff: CurrentStaff,
    services: ServicesDep,
    channel: Annotated[str, Query(min_length=1, max_length=128, pattern=IDENT,
                                  description="e.g. vwc, rain")],
    from_: Annotated[str | None, Query(
        alias="from", description="Start (inclusive): epoch ms or ISO 8601; default to - 24 h",
    )] = None,
    to: Annotated[str | None, Query(
        description="End (exclusive): epoch ms or ISO 8601; default now")] = None,
    every: Annotated[str | None, Query(
        description="Aggregate per interval: 60000, 30s, 15m, 1h, 1d; raw when absent")] = None,
    agg: Annotated[str | None, Query(
        description="Comma-separated subset of mean,min,max,sum (default all); needs every")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Most raw readings")] = 10_000,
) -> JSONResponse:
    end = parse_time(to, "to") if to is not None else int(time.time() * 1000)
    start = parse_time(from_, "from") if from_ is not None else end - DAY_MS
    if start > end:
        raise InvalidInput("from is after to", errors=[
            {"loc": ["query", "from"], "msg": "after to", "type": "value_error"}])
    store = _store(services)
    unit = reading_unit(channel)
    try:
        if every is None:
            if agg is not None:
                raise InvalidInput("agg needs every (the interval to aggregate over)", errors=[
                    {"loc": ["query", "agg"], "msg": "needs every", "type": "value_error"}])
            points = await store.readings(node, channel, start, end, limit)
            # Built as plain JSON: validating 100,000 response objects would cost more than the
            # query. The shape is ReadingsOut's (checked by the schema fuzz run).
            return JSONResponse({
                "node": node, "channel": channel, "unit": unit, "from": start, "to": end,
                "readings": [{"ts": p.ts, "value": p.value, "seq": p.seq, "gateway": p.gateway}
                             for p in points]})
        step = parse_every(every)
        wanted = parse_aggregates(agg)
        if (end - start) // step > MAX_BUCKETS:
            raise InvalidInput(f"more than {MAX_BUCKETS} intervals; choose a larger every",
                               errors=[{"loc": ["query", "every"], "msg": "too small",
                                        "type": "value_error"}])
        rows = await store.aggregate(node, channel, start, end, step)
    except TelemetryError as e:
        raise Unavailable(f"telemetry query failed: {e}") from e
    return JSONResponse({
        "node": node, "channel": channel, "unit": unit, "from": start, "to": end,
        "every": step, "agg": list(wanted),
        "intervals": [{"ts": r.ts, "count": r.count, **{a: getattr(r, a) for a in wanted}}
                      for r in rows]})


@router.get(
    "/api/v1/nodes/{node}/latest",
    response_model=NodeLatestOut,
    summary="The newest reading of every channel of a node",
    responses=problem_responses(401, 503),
)
async def latest(node: NodeId, staff: CurrentStaff, services: ServicesDep) -> NodeLatestOut:
    try:
        rows = await _store(services).latest(node)
    except TelemetryError as e:
        raise Unavailable(f"telemetry query failed: {e}") from e
    return NodeLatestOut(node=node, channels=[
        LatestOut(channel=r.channel, unit=reading_unit(r.channel), ts=r.ts, value=r.value)
        for r in rows])
