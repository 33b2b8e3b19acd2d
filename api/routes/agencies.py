"""The agencies' report card: ``GET /api/v1/agencies/scorecard``.

Definitions in api/incidents/scorecard.py and docs/incidents.md. Responders and viewers see
their own agency's row; admins and see-all agencies see every agency.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from siaga.api.deps import CurrentStaff, IncidentsDep, StaffScope
from siaga.api.errors import InvalidInput, problem_responses
from siaga.api.incidents.models import Scorecard, query_epoch

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/agencies", tags=["agencies"])

_DEFAULT_SPAN_S = 30 * 86400


@router.get("/scorecard", response_model=Scorecard, response_model_by_alias=True,
            summary="Per agency: incidents handled, on-time shares, median and p90 times",
            responses=problem_responses(401, 422))
async def scorecard(
    incidents: IncidentsDep,
    staff: CurrentStaff,
    scope: StaffScope,
    start: Annotated[datetime | None, Query(
        alias="from", description="Clocks started at or after (default: 30 days before `to`)",
    )] = None,
    end: Annotated[datetime | None, Query(alias="to", description="Before (default: now)")] = None,
) -> Scorecard:
    end_s = query_epoch(end, "to")
    if end_s is None:
        end_s = incidents.clock()
    start_s = query_epoch(start, "from")
    if start_s is None:
        start_s = end_s - _DEFAULT_SPAN_S
    if start_s >= end_s:
        raise InvalidInput("`from` must be before `to`", field="from")
    return await incidents.scorecard(start_s, end_s, scope)
