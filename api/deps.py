"""Dependencies routes declare with ``Annotated`` aliases, so handlers read like prose::

    @router.post("/api/v1/incidents/{incident_id}/ack")
    async def ack(incident_id: int, staff: ResponderStaff, incidents: IncidentsDep) -> Incident:
        ...

A route declares only the services it uses, each one of the process's
:class:`~api.services.HubServices`:

- ``SettingsDep`` (:class:`~api.settings.HubSettings`), ``DatabaseDep``, ``RegistryDep``,
  ``AccountsDep`` (staff), ``GatewayTokensDep``, ``AuditDep`` (the audit log), ``BusDep``
  (the live bus), ``MetricsDep``,
  ``TelemetryDep`` (the telemetry store), ``IncidentsDep`` (the incident service),
  ``ReportsDep`` (the citizen report service),
  ``IngestDep`` (the pipeline), ``NotifyDep`` (the notifier, None while notify is off).

Who is asking:

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

from siaga.api.accounts import Accounts, Role, Staff
from siaga.api.audit import AuditLog
from siaga.api.db import Database
from siaga.api.errors import Forbidden, Unauthorized
from siaga.api.gateway_tokens import GatewayTokens
from siaga.api.incidents.report_service import CitizenReportService
from siaga.api.incidents.service import IncidentService
from siaga.api.ingest.pipeline import IngestPipeline
from siaga.api.live import LiveBus
from siaga.api.metrics import MetricsRegistry
from siaga.api.notify.service import NotifyService
from siaga.api.registry import Registry
from siaga.api.services import HubServices
from siaga.api.settings import HubSettings
from siaga.api.telemetry.store import TelemetryStore

__all__ = [
    "AccountsDep",
    "AdminStaff",
    "AuditDep",
    "BusDep",
    "CurrentGateway",
    "CurrentStaff",
    "DatabaseDep",
    "GatewayTokensDep",
    "IncidentsDep",
    "IngestDep",
    "MetricsDep",
    "NotifyDep",
    "RegistryDep",
    "ReportsDep",
    "ResponderStaff",
    "SettingsDep",
    "StaffScope",
    "StreamSession",
    "StreamStaff",
    "TelemetryDep",
    "bearer_token",
    "require_role",
]

_bearer = HTTPBearer(
    auto_error=False,
    description="Staff: a token from POST /api/v1/auth/token. Gateways: their gateway token.",
)


# Every provider here is ``async def`` though none awaits: FastAPI runs a plain ``def``
# dependency in its thread pool, and the ingest route's four cost a thread hand-off each per
# request (issue 17: ~0.1 ms of a 500-reading batch's hub CPU, and GIL churn).
async def _services(request: Request) -> HubServices:
    services: HubServices = request.app.state.services
    return services


_Services = Annotated[HubServices, Depends(_services)]


async def _settings(services: _Services) -> HubSettings:
    return services.settings


async def _database(services: _Services) -> Database:
    return services.db


async def _registry(services: _Services) -> Registry:
    return services.registry


async def _accounts(services: _Services) -> Accounts:
    return services.accounts


async def _gateway_tokens(services: _Services) -> GatewayTokens:
    return services.gateway_tokens


async def _audit(services: _Services) -> AuditLog:
    return services.audit


async def _bus(services: _Services) -> LiveBus:
    return services.bus


async def _metrics(services: _Services) -> MetricsRegistry:
    return services.metrics


async def _telemetry(services: _Services) -> TelemetryStore:
    return services.telemetry


async def _incidents(services: _Services) -> IncidentService:
    return services.incidents


async def _reports(services: _Services) -> CitizenReportService:
    return services.reports


async def _ingest(services: _Services) -> IngestPipeline:
    return services.ingest


async def _notify(services: _Services) -> NotifyService | None:
    return services.notify


SettingsDep = Annotated[HubSettings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
RegistryDep = Annotated[Registry, Depends(_registry)]
AccountsDep = Annotated[Accounts, Depends(_accounts)]
GatewayTokensDep = Annotated[GatewayTokens, Depends(_gateway_tokens)]
AuditDep = Annotated[AuditLog, Depends(_audit)]
BusDep = Annotated[LiveBus, Depends(_bus)]
MetricsDep = Annotated[MetricsRegistry, Depends(_metrics)]
TelemetryDep = Annotated[TelemetryStore, Depends(_telemetry)]
IncidentsDep = Annotated[IncidentService, Depends(_incidents)]
ReportsDep = Annotated[CitizenReportService, Depends(_reports)]
IngestDep = Annotated[IngestPipeline, Depends(_ingest)]
NotifyDep = Annotated[NotifyService | None, Depends(_notify)]


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None or not credentials.credentials:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    return credentials.credentials


async def current_staff(accounts: AccountsDep,
                        token: Annotated[str, Depends(bearer_token)]) -> Staff:
    return await accounts.staff_for_token(token)


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


async def staff_scope(accounts: AccountsDep, staff: CurrentStaff) -> frozenset[str] | None:
    return accounts.scope(staff)


StaffScope = Annotated[frozenset[str] | None, Depends(staff_scope)]


@dataclass(frozen=True, slots=True)
class StreamSession:
    staff: Staff
    token: str
    expires_at: float


async def stream_session(
    accounts: AccountsDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[str | None, Query(
        description="The bearer token, for clients that cannot set headers (EventSource)",
    )] = None,
) -> StreamSession:
    if credentials is not None and credentials.credentials:
        token = credentials.credentials
    elif access_token:
        if not settings.auth.allow_query_token:
            raise Unauthorized("?access_token= is turned off here (auth.allow_query_token)")
        token = access_token
    else:
        raise Unauthorized("missing bearer token (Authorization header or ?access_token=)")
    staff, expires_at = await accounts.session_for_token(token)
    return StreamSession(staff=staff, token=token, expires_at=expires_at)


StreamStaff = Annotated[StreamSession, Depends(stream_session)]


async def current_gateway(tokens: GatewayTokensDep,
                          token: Annotated[str, Depends(bearer_token)]) -> str:
    return await tokens.gateway_for_token(token)


CurrentGateway = Annotated[str, Depends(current_gateway)]
