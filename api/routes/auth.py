"""Log in and out (``POST``/``DELETE /api/v1/auth/token``) and ``GET /api/v1/me``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from siaga.api.accounts import Staff
from siaga.api.deps import AccountsDep, AuditDep, CurrentStaff, SettingsDep, bearer_token
from siaga.api.errors import Unauthorized, problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["auth"])


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: float = Field(description="POSIX seconds (UTC)")
    expires_in: int = Field(description="Seconds from now")
    staff: Staff


class Me(Staff):
    sees_agencies: list[str] | None = Field(
        description="Agencies whose incidents this account sees; null = all")


@router.post("/auth/token", response_model=TokenOut, summary="Log in: a bearer token for staff",
             responses=problem_responses(401, 422, 429, 503))
async def login(body: Credentials, request: Request, accounts: AccountsDep, audit: AuditDep,
                settings: SettingsDep) -> TokenOut:
    address = request.client.host if request.client is not None else ""
    try:
        staff, issued = await accounts.login(body.username, body.password, address)
    except Unauthorized:
        # the audit log keeps every wrong password (never the password); throttled tries are
        # not written, so a flood is bounded by the per-address limit
        await audit.record(address or "unknown", "login.failed", body.username,
                           {"address": address})
        raise
    return TokenOut(access_token=issued.token, expires_at=issued.expires_at,
                    expires_in=settings.auth.token_ttl_s, staff=staff)


@router.delete("/auth/token", status_code=204, response_class=Response,
               summary="Log out: revoke the token of this request",
               responses=problem_responses(401))
async def logout(accounts: AccountsDep, staff: CurrentStaff,
                 token: Annotated[str, Depends(bearer_token)]) -> Response:
    await accounts.revoke_token(token)
    return Response(status_code=204)


@router.get("/me", response_model=Me, summary="The account behind the token",
            responses=problem_responses(401))
async def me(accounts: AccountsDep, staff: CurrentStaff) -> Me:
    scope = accounts.scope(staff)
    return Me(**staff.model_dump(), sees_agencies=None if scope is None else sorted(scope))
