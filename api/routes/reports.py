"""Citizen reports: ``POST /api/v1/reports``, open to anyone (citizens have no accounts).

Being unauthenticated, it is bounded: the body may not exceed 4 KiB and every field has a
length limit; a report can at most open an *unconfirmed* incident, which staff then judge.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from siaga.api.deps import IncidentsDep
from siaga.api.errors import PayloadTooLarge, problem_responses
from siaga.api.incidents.models import ReportIn, ReportOut

__all__ = ["MAX_REPORT_BYTES", "router"]

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

MAX_REPORT_BYTES = 4096


async def _bounded(request: Request) -> None:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_REPORT_BYTES:
        raise PayloadTooLarge(f"a report may be at most {MAX_REPORT_BYTES} bytes",
                              limit=MAX_REPORT_BYTES)
    if len(await request.body()) > MAX_REPORT_BYTES:
        raise PayloadTooLarge(f"a report may be at most {MAX_REPORT_BYTES} bytes",
                              limit=MAX_REPORT_BYTES)


@router.post("", response_model=ReportOut, status_code=201,
             dependencies=[Depends(_bounded)],
             summary="Report a hazard (no account needed)",
             responses=problem_responses(413, 422))
async def post_report(body: ReportIn, incidents: IncidentsDep) -> ReportOut:
    return await incidents.report(body)
