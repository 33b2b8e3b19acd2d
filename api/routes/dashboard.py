"""The command-centre dashboard: static pages under ``/dashboard/`` and the settings they need.

The pages are plain HTML/CSS/JS (``api/dashboard/static``) that talk to the same API as any
other client, so nothing here decides what a user may see: the API's agency scoping does.
"""

from __future__ import annotations

import time
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from siaga.api.deps import CurrentStaff, ServicesDep
from siaga.api.errors import problem_responses

__all__ = ["router"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "dashboard" / "static"

router = APIRouter()


class DashboardConfig(BaseModel):
    timezone: str = Field(description="IANA zone every time is shown in (WIB: Asia/Jakarta)")
    tile_url: str | None = Field(description="{z}/{x}/{y} tile URL, or null for the offline map")
    tile_attribution: str | None


@router.get("/api/v1/dashboard/config", response_model=DashboardConfig, tags=["dashboard"],
            summary="Time zone and map settings for the dashboard",
            responses=problem_responses(401))
async def dashboard_config(services: ServicesDep, staff: CurrentStaff) -> DashboardConfig:
    d = services.settings.dashboard
    return DashboardConfig(timezone=d.timezone, tile_url=d.tile_url or None,
                           tile_attribution=d.tile_attribution or None)


class GatewayHealth(BaseModel):
    gateway: str
    name: str
    site: str | None
    last_heartbeat: float | None = Field(description="When the hub last heard one (POSIX s)")
    silent: bool = Field(description="No heartbeat within the incidents' gateway_silence_s")
    buffer_depth: int | None = Field(description="Entries waiting in the gateway's buffer")


@router.get("/api/v1/dashboard/gateways", response_model=list[GatewayHealth], tags=["dashboard"],
            summary="Every registered gateway with its last heartbeat",
            responses=problem_responses(401))
async def gateway_health(services: ServicesDep, staff: CurrentStaff) -> list[GatewayHealth]:
    beats = await services.incidents.last_heartbeats()
    window = services.settings.incidents.gateway_silence_s
    now = time.time()
    out = []
    for g in services.registry.gateways():
        beat = beats.get(g.id)
        heard = beat.received_at if beat is not None else None
        depth = beat.buffer_depth if beat is not None else None
        out.append(GatewayHealth(
            gateway=g.id, name=g.name, site=g.site, last_heartbeat=heard,
            silent=heard is not None and now - heard > window, buffer_depth=depth))
    return out


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard", include_in_schema=False)
async def dashboard_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/", include_in_schema=False)
async def dashboard_index() -> FileResponse:
    # no-cache: a hub upgrade must not leave a command centre on yesterday's script
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


router.mount("/dashboard", StaticFiles(directory=STATIC_DIR), name="dashboard")
