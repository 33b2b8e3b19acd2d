"""Citizen reports: ``POST /api/v1/reports``, open to anyone (citizens have no accounts), and
the triage queue staff work through.

Being unauthenticated, the report endpoint is bounded: the body may not exceed its limit in
``HubSettings.route_body_limits()`` (4 KiB unless ``server.body_limits`` names
``/api/v1/reports``; api/body_limit.py refuses it while it streams in, before this router runs,
and counts it as ``too_large``), every field has a length limit
(text 1000 characters), each client address and each contact may send only so many reports per
window (``incidents.report_limit_*``; 429 with Retry-After), and a lone report opens nothing: it
waits in triage until a duty officer of an agency it is routed to verifies or rejects it
(``/api/v1/reports/triage``, ``.../{id}/verify``, ``.../{id}/reject``), or until enough
independent reports near it confirm each other (api/incidents/reports.py).
Every outcome is counted in ``siaga_reports_total`` on /metrics.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from siaga.api.deps import AccountsDep, CurrentStaff, ReportsDep, ResponderStaff, StaffScope
from siaga.api.errors import TooManyRequests, problem_responses
from siaga.api.incidents.lifecycle import Actor
from siaga.api.incidents.models import RejectIn, ReportIn, ReportOut, TriageReport, VerifyIn

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.post("", response_model=ReportOut, status_code=201,
             summary="Report a hazard (no account needed)",
             responses=problem_responses(413, 422, 429))
async def post_report(body: ReportIn, request: Request, reports: ReportsDep) -> ReportOut:
    # The peer as uvicorn resolved it (X-Forwarded-For only from server.forwarded_allow_ips).
    address = request.client.host if request.client is not None else "unknown"
    wait, which = await reports.wait_s(address, body.contact)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        who = "this address" if which == "address" else "this contact"
        raise TooManyRequests(f"too many reports from {who}; try again in {retry} s",
                              retry_after_s=retry)
    return await reports.submit(body, address)


ReportId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/triage", response_model=list[TriageReport],
            summary="Reports waiting for a duty officer of your agency, newest first",
            responses=problem_responses(401))
async def triage(reports: ReportsDep, staff: CurrentStaff,
                 scope: StaffScope) -> list[TriageReport]:
    return await reports.triage(scope)


def _actor(accounts: AccountsDep, staff: ResponderStaff) -> Actor:
    return Actor(username=staff.username, agency=staff.agency, role=staff.role.value,
                 sees_all=accounts.scope(staff) is None)


Duty = Annotated[Actor, Depends(_actor)]
_DECIDE = problem_responses(401, 403, 404, 409, 422)


@router.post("/{report_id}/verify", response_model=TriageReport, responses=_DECIDE,
             summary="Verify a waiting report: its incident opens now (clock from now)")
async def verify(report_id: ReportId, reports: ReportsDep, actor: Duty,
                 body: VerifyIn | None = None) -> TriageReport:
    return await reports.verify(report_id, actor, body.note if body else None)


@router.post("/{report_id}/reject", response_model=TriageReport, responses=_DECIDE,
             summary="Reject a waiting report, with the reason (counted as rejected)")
async def reject(report_id: ReportId, body: RejectIn, reports: ReportsDep,
                 actor: Duty) -> TriageReport:
    return await reports.reject(report_id, actor, body.reason)
