"""Dependencies routes declare with ``Annotated`` aliases, so handlers read like prose::

    @router.post("/api/v1/incidents/{incident_id}/ack")
    async def ack(incident_id: int, staff: ResponderStaff, services: ServicesDep) -> Incident:
        ...

- ``ServicesDep``: the process's :class:`~api.services.HubServices`.
- ``SettingsDep``: its :class:`~api.settings.HubSettings`.
- ``CurrentStaff``: the :class:`~api.accounts.Staff` behind the bearer token (401 otherwise).
- ``ResponderStaff`` / ``AdminStaff``: the same, at least that role (403 otherwise);
  ``require_role(role)`` builds such a dependency for any role.
- ``StaffScope``: the agencies the caller may see (``None`` = all), for filtering queries.
- ``StreamStaff``: a :class:`StreamSession` (staff and token expiry) from the header or
  ``?access_token=`` (EventSource cannot set headers).
- ``CurrentGateway``: the gateway id behind a gateway token (401 otherwise).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from siaga.api.accounts import Role, Staff
from siaga.api.errors import Forbidden, Unauthorized
from siaga.api.services import HubServices
from siaga.api.settings import HubSettings

__all__ = [
    "AdminStaff",
    "CurrentGateway",
    "CurrentStaff",
    "ResponderStaff",
    "ServicesDep",
    "SettingsDep",
    "StaffScope",
    "StreamSession",
    "StreamStaff",
    "bearer_token",
    "require_role",
]

_bearer = HTTPBearer(
    auto_error=False,
    description="Staff: a token from POST /api/v1/auth/token. Gateways: their gateway token.",
)


def get_services(request: Request) -> HubServices:
    services: HubServices = request.app.state.services
    return services


ServicesDep = Annotated[HubServices, Depends(get_services)]


def get_settings(services: ServicesDep) -> HubSettings:
    return services.settings


SettingsDep = Annotated[HubSettings, Depends(get_settings)]


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    return credentials.credentials


async def current_staff(services: ServicesDep,
                        token: Annotated[str, Depends(bearer_token)]) -> Staff:
    return await services.accounts.staff_for_token(token)


CurrentStaff = Annotated[Staff, Depends(current_staff)]


def require_role(role: Role) -> Callable[[Staff], Awaitable[Staff]]:
    """A dependency giving the current staff member if their role is at least ``role``."""

    async def check(staff: CurrentStaff) -> Staff:
        if not staff.has_role(role):
            raise Forbidden(f"needs the {role.value} role; {staff.username} is {staff.role.value}")
        return staff

    return check


ResponderStaff = Annotated[Staff, Depends(require_role(Role.RESPONDER))]
AdminStaff = Annotated[Staff, Depends(require_role(Role.ADMIN))]


def staff_scope(services: ServicesDep, staff: CurrentStaff) -> frozenset[str] | None:
    return services.accounts.scope(staff)


StaffScope = Annotated[frozenset[str] | None, Depends(staff_scope)]


@dataclass(frozen=True, slots=True)
class StreamSession:
    staff: Staff
    token: str
    expires_at: float


async def stream_session(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[str | None, Query(
        description="The bearer token, for clients that cannot set headers (EventSource)",
    )] = None,
) -> StreamSession:
    if credentials is not None and credentials.credentials:
        token = credentials.credentials
    elif access_token:
        if not services.settings.auth.allow_query_token:
            raise Unauthorized("?access_token= is turned off here (auth.allow_query_token)")
        token = access_token
    else:
        raise Unauthorized("missing bearer token (Authorization header or ?access_token=)")
    staff, expires_at = await services.accounts.session_for_token(token)
    return StreamSession(staff=staff, token=token, expires_at=expires_at)


StreamStaff = Annotated[StreamSession, Depends(stream_session)]


async def current_gateway(services: ServicesDep,
                          token: Annotated[str, Depends(bearer_token)]) -> str:
    return await services.accounts.gateway_for_token(token)


CurrentGateway = Annotated[str, Depends(current_gateway)]
