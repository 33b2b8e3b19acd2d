"""The telemetry query API: raw or aggregated readings of a node's channel, and its latest values.

Times are milliseconds since the epoch (UTC) in answers; ``from``/``to`` also take ISO 8601.
The logic is api/telemetry/query.py's; this module binds it to HTTP.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from siaga.api.deps import CurrentStaff, TelemetryDep
from siaga.api.errors import problem_responses
from siaga.api.telemetry import query
from siaga.api.telemetry.models import NodeLatestOut, ReadingsOut
from siaga.firmware_bridge.uplink import IDENT_MAX_LENGTH, IDENT_PATTERN

__all__ = ["router"]

router = APIRouter(tags=["telemetry"])

# The uplink's identifier rule: a name no reading can carry finds nothing.
NodeId = Annotated[str, Path(min_length=1, max_length=IDENT_MAX_LENGTH, pattern=IDENT_PATTERN)]


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
    store: TelemetryDep,
    channel: Annotated[str, Query(min_length=1, max_length=IDENT_MAX_LENGTH,
                                  pattern=IDENT_PATTERN,
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
    limit: Annotated[int, Query(ge=1, le=query.MAX_LIMIT,
                                description="Most raw readings")] = query.DEFAULT_LIMIT,
) -> JSONResponse:
    asked = query.ReadingsQuery(node=node, channel=channel, start=from_, end=to, every=every,
                                agg=agg, limit=limit)
    return JSONResponse(await query.readings(store, asked, int(time.time() * 1000)))


@router.get(
    "/api/v1/nodes/{node}/latest",
    response_model=NodeLatestOut,
    summary="The newest reading of every channel of a node",
    responses=problem_responses(401, 503),
)
async def latest(node: NodeId, staff: CurrentStaff, store: TelemetryDep) -> NodeLatestOut:
    return await query.latest(store, node)
