"""Incident API: list, detail, and the staff steps ack / dispatch / resolve.

A responder or viewer sees only incidents that involve their agency (others are 404); admins
and staff of a see-all agency see every incident. Who may act for which agency is decided
in api/incidents/lifecycle.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from siaga.api.accounts import Accounts, Staff
from siaga.api.deps import (
    AccountsDep,
    CurrentStaff,
    IncidentsDep,
    RegistryDep,
    ResponderStaff,
    SettingsDep,
    StaffScope,
)
from siaga.api.errors import NotFound, problem_responses
from siaga.api.incidents.lifecycle import Actor
from siaga.api.incidents.models import ActionIn, Incident, IncidentDetail, NoteIn, query_epoch
from siaga.api.incidents.queries import IncidentFilter
from siaga.api.incidents.rules import StaffAction
from siaga.api.incidents.service import IncidentService
from siaga.api.routes.cap import render_message

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

IncidentId = Annotated[int, Path(ge=1, le=2**62)]
_ACT = problem_responses(401, 403, 404, 409, 422)


def _actor(accounts: Accounts, staff: Staff) -> Actor:
    return Actor(username=staff.username, agency=staff.agency, role=staff.role.value,
                 sees_all=accounts.scope(staff) is None)


async def _step(action: StaffAction, incident_id: int, incidents: IncidentService,
                accounts: Accounts, staff: Staff, body: ActionIn | None) -> Incident:
    # ack, dispatch and resolve differ only in the action (api/incidents/lifecycle.py).
    body = body or ActionIn()
    return await incidents.act(incident_id, action, _actor(accounts, staff), body.note,
                               body.agency)


@router.get("", response_model=list[Incident], summary="Incidents, newest first",
            responses=problem_responses(401, 422))
async def list_incidents(
    incidents: IncidentsDep,
    staff: CurrentStaff,
    scope: StaffScope,
    status: Annotated[
        Literal["open", "acknowledged", "dispatched", "resolved", "active"] | None,
        Query(description="A stage, or `active` for every incident not yet resolved"),
    ] = None,
    agency: Annotated[str | None, Query(max_length=32, description="Involves this agency")] = None,
    hazard: Annotated[str | None, Query(max_length=32)] = None,
    level: Annotated[int | None, Query(ge=1, le=4)] = None,
    start: Annotated[datetime | None, Query(alias="from", description="Opened at or after")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="Opened before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[Incident]:
    return await incidents.find(IncidentFilter(
        status=status, agency=agency, hazard=hazard, level=level,
        start=query_epoch(start, "from"), end=query_epoch(end, "to"),
        scope=scope, limit=limit, offset=offset,
    ))


@router.get("/{incident_id}", response_model=IncidentDetail,
            summary="One incident with its timeline and per-agency clocks",
            responses=problem_responses(401, 404, 422))
async def get_incident(incident_id: IncidentId, incidents: IncidentsDep, staff: CurrentStaff,
                       scope: StaffScope) -> IncidentDetail:
    return await incidents.get(incident_id, scope)


@router.post("/{incident_id}/ack", response_model=Incident,
             summary="Acknowledge for your agency (admins: for body.agency)", responses=_ACT)
async def ack(incident_id: IncidentId, incidents: IncidentsDep, accounts: AccountsDep,
              staff: ResponderStaff, body: ActionIn | None = None) -> Incident:
    return await _step("ack", incident_id, incidents, accounts, staff, body)


@router.post("/{incident_id}/dispatch", response_model=Incident,
             summary="Record that your agency dispatched a team", responses=_ACT)
async def dispatch(incident_id: IncidentId, incidents: IncidentsDep, accounts: AccountsDep,
                   staff: ResponderStaff, body: ActionIn | None = None) -> Incident:
    return await _step("dispatch", incident_id, incidents, accounts, staff, body)


@router.post("/{incident_id}/resolve", response_model=Incident,
             summary="Resolve for your agency; an admin without body.agency closes it",
             responses=_ACT)
async def resolve(incident_id: IncidentId, incidents: IncidentsDep, accounts: AccountsDep,
                  staff: ResponderStaff, body: ActionIn | None = None) -> Incident:
    return await _step("resolve", incident_id, incidents, accounts, staff, body)


@router.post("/{incident_id}/note", response_model=Incident,
             summary="Add a note to the timeline (state unchanged)", responses=_ACT)
async def note(incident_id: IncidentId, body: NoteIn, incidents: IncidentsDep,
               accounts: AccountsDep, staff: ResponderStaff) -> Incident:
    return await incidents.note(incident_id, _actor(accounts, staff), body.note)


@router.get("/{incident_id}/cap", response_class=Response,
            summary="The incident as an OASIS CAP 1.2 message",
            responses={200: {"content": {"application/xml": {}},
                             "description": "CAP 1.2 XML (urn:oasis:names:tc:emergency:cap:1.2)"},
                       **problem_responses(401, 404, 422)})
async def get_cap(incident_id: IncidentId, incidents: IncidentsDep, registry: RegistryDep,
                  settings: SettingsDep, staff: CurrentStaff, scope: StaffScope) -> Response:
    msg = await incidents.cap_latest(incident_id, scope)
    if msg is None:
        raise NotFound(f"incident {incident_id} has no CAP message yet (it never rose above "
                       "Normal)")
    return Response(render_message(msg, settings, registry), media_type="application/xml")
