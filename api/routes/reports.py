"""Citizen reports: ``POST /api/v1/reports``, open to anyone (citizens have no accounts).

Being unauthenticated, it is bounded: the body may not exceed 4 KiB, every field has a
length limit (text 1000 characters), each client address and each contact may send only so
many reports per window (``incidents.report_limit_*``; 429 with Retry-After), and a report can
at most open an *unconfirmed* incident, which staff then judge. Refusals are counted in
``siaga_reports_total`` on /metrics.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Request

from siaga.api.deps import IncidentsDep
from siaga.api.errors import PayloadTooLarge, TooManyRequests, problem_responses
from siaga.api.incidents.models import ReportIn, ReportOut

__all__ = ["MAX_REPORT_BYTES", "router"]

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

MAX_REPORT_BYTES = 4096


async def _bounded(request: Request, incidents: IncidentsDep) -> None:
    length = request.headers.get("content-length")
    if (length is not None and length.isdigit() and int(length) > MAX_REPORT_BYTES) \
            or len(await request.body()) > MAX_REPORT_BYTES:
        incidents.count_report("too_large")
        raise PayloadTooLarge(f"a report may be at most {MAX_REPORT_BYTES} bytes",
                              limit=MAX_REPORT_BYTES)


@router.post("", response_model=ReportOut, status_code=201,
             dependencies=[Depends(_bounded)],
             summary="Report a hazard (no account needed)",
             responses=problem_responses(413, 422, 429))
async def post_report(body: ReportIn, request: Request, incidents: IncidentsDep) -> ReportOut:
    # The peer as uvicorn resolved it (X-Forwarded-For only from server.forwarded_allow_ips).
    address = request.client.host if request.client is not None else "unknown"
    wait, which = incidents.report_wait_s(address, body.contact)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        who = "this address" if which == "address" else "this contact"
        raise TooManyRequests(f"too many reports from {who}; try again in {retry} s",
                              retry_after_s=retry)
    return await incidents.report(body)
