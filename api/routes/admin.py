"""Admin API behind the dashboard's admin pages: staff accounts, gateway tokens, what ingest
refused of each gateway, audit log.

Every route needs an admin (``AdminStaff``: 403 for anyone else, whatever the page shows) and
every change is recorded in the audit log without its secrets. Registry edits are the registry
routes' (api/routes/registry.py), audited the same way.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from siaga.api.accounts import Role, Staff
from siaga.api.audit import AuditEntry
from siaga.api.deps import (
    AccountsDep,
    AdminStaff,
    AuditDep,
    GatewayTokensDep,
    IngestDep,
    RegistryDep,
)
from siaga.api.errors import Forbidden, NotFound, problem_responses
from siaga.api.ingest.refusals import GatewayRefusals

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

Username = Annotated[str, Path(min_length=2, max_length=64)]
GatewayId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", max_length=64)]
_WRITE = problem_responses(401, 403, 404, 409, 422)


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=64)
    name: str = Field(default="", max_length=200)
    agency: str = Field(min_length=1, max_length=32)
    role: Role
    password: str = Field(min_length=1, max_length=1024)


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    agency: str | None = Field(default=None, min_length=1, max_length=32)
    role: Role | None = None
    disabled: bool | None = None


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024)


class GatewayTokenState(BaseModel):
    gateway: str
    name: str
    issued_at: float | None = Field(description="When its current token was issued; null: none")


class IssuedGatewayToken(BaseModel):
    gateway: str
    token: str = Field(description="Shown once; the hub keeps only its hash")


@router.get("/users", response_model=list[Staff], summary="Every staff account",
            responses=problem_responses(401, 403))
async def users(accounts: AccountsDep, admin: AdminStaff) -> list[Staff]:
    return await accounts.list_users()


@router.post("/users", response_model=Staff, status_code=201, summary="Create an account",
             responses=_WRITE)
async def create_user(body: NewUser, accounts: AccountsDep, audit: AuditDep,
                      admin: AdminStaff) -> Staff:
    staff = await accounts.add_user(body.username, body.name, body.agency, body.role,
                                    body.password)
    await audit.record(admin.username, "user.create", body.username,
                                {"name": staff.name, "agency": body.agency,
                                 "role": body.role.value})
    return staff


@router.patch("/users/{username}", response_model=Staff, summary="Change name, role, "
              "agency or disable/enable an account", responses=_WRITE)
async def change_user(username: Username, body: UserChange, accounts: AccountsDep,
                      audit: AuditDep, admin: AdminStaff) -> Staff:
    if username == admin.username and (body.disabled or (body.role and body.role != Role.ADMIN)):
        raise Forbidden("an admin cannot disable or demote their own account")
    staff = await accounts.update_user(username, name=body.name, role=body.role,
                                       agency=body.agency, disabled=body.disabled)
    await audit.record(admin.username, "user.update", username,
                                body.model_dump(mode="json", exclude_none=True))
    return staff


@router.post("/users/{username}/password", status_code=204, response_class=Response,
             summary="Reset a password (ends the account's sessions)", responses=_WRITE)
async def reset_password(username: Username, body: NewPassword, accounts: AccountsDep,
                         audit: AuditDep, admin: AdminStaff) -> Response:
    await accounts.set_password(username, body.password)
    await audit.record(admin.username, "user.password_reset", username)
    return Response(status_code=204)


@router.get("/gateway-tokens", response_model=list[GatewayTokenState],
            summary="Every registered gateway and whether it has a token",
            responses=problem_responses(401, 403))
async def gateway_tokens(tokens: GatewayTokensDep, registry: RegistryDep,
                         admin: AdminStaff) -> list[GatewayTokenState]:
    issued = await tokens.issued()
    return [GatewayTokenState(gateway=g.id, name=g.name, issued_at=issued.get(g.id))
            for g in registry.gateways()]


@router.post("/gateway-tokens/{gateway_id}", response_model=IssuedGatewayToken,
             status_code=201, summary="Issue a gateway's token, or rotate it (the old one "
             "stops working)", responses=_WRITE)
async def issue_gateway_token(gateway_id: GatewayId, tokens: GatewayTokensDep,
                              registry: RegistryDep, audit: AuditDep,
                              admin: AdminStaff) -> IssuedGatewayToken:
    if registry.gateway(gateway_id) is None:
        raise NotFound(f"no gateway {gateway_id!r} in the registry")
    had = gateway_id in await tokens.issued()
    token = await tokens.issue(gateway_id)
    await audit.record(admin.username, "gateway.token.rotate" if had else "gateway.token.issue",
                       gateway_id)
    return IssuedGatewayToken(gateway=gateway_id, token=token)


@router.delete("/gateway-tokens/{gateway_id}", status_code=204, response_class=Response,
               summary="Revoke a gateway's token", responses=_WRITE)
async def revoke_gateway_token(gateway_id: GatewayId, tokens: GatewayTokensDep,
                               audit: AuditDep, admin: AdminStaff) -> Response:
    await tokens.revoke(gateway_id)
    await audit.record(admin.username, "gateway.token.revoke", gateway_id)
    return Response(status_code=204)


@router.get("/ingest-refusals", response_model=list[GatewayRefusals],
            summary="Items each gateway was refused at ingest because it may not write them "
            "(per reason: count, last time, the latest item), since this hub process started",
            responses=problem_responses(401, 403))
async def ingest_refusals(ingest: IngestDep, admin: AdminStaff) -> list[GatewayRefusals]:
    return ingest.refusals.summary()


@router.get("/audit", response_model=list[AuditEntry], summary="The audit log, newest first",
            responses=problem_responses(401, 403))
async def audit_log(audit: AuditDep, admin: AdminStaff,
                limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                before: Annotated[int | None, Query(ge=1, le=2**62, description="Entries "
                                                   "older than this id")] = None,
                ) -> list[AuditEntry]:
    return await audit.entries(limit, before)
