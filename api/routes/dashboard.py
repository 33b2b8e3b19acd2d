"""The command-centre dashboard: the built pages under ``/dashboard/`` and the settings they need.

The pages (``api/dashboard/static``, built into ``api/dashboard/build`` with the third-party
code by ``deploy/setup.sh``) talk to the same API as any other client, so nothing here decides
what a user may see: the API's agency scoping does. Assets have content-hashed names and are
served as immutable; ``index.html`` is revalidated on every load. The offline basemap (a
PMTiles archive named by ``dashboard.basemap``) is served by HTTP range requests.
"""

from __future__ import annotations

import mimetypes
import stat
import time
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Scope

from siaga.api.dashboard_build import ASSETS_DIR, INDEX_HTML
from siaga.api.deps import CurrentStaff, IncidentsDep, RegistryDep, SettingsDep
from siaga.api.errors import NotFound, Unavailable, problem_responses

__all__ = ["BASEMAP_PATH", "router"]

BASEMAP_PATH = "/dashboard/basemap.pmtiles"
IMMUTABLE = "public, max-age=31536000, immutable"

router = APIRouter()


class DashboardConfig(BaseModel):
    timezone: str = Field(description="IANA zone every time is shown in (WIB: Asia/Jakarta)")
    basemap_url: str | None = Field(
        description="PMTiles archive of the offline basemap (range requests), or null")
    tile_url: str | None = Field(description="{z}/{x}/{y} tile URL, or null for the offline map")
    tile_attribution: str | None
    agencies: dict[str, str] = Field(description="Configured agency codes and their names")
    area: list[float] | None = Field(
        min_length=4, max_length=4,
        description="[south, west, north, east] the map opens on for the caller's agency")


@router.get("/api/v1/dashboard/config", response_model=DashboardConfig, tags=["dashboard"],
            summary="Time zone and map settings for the dashboard",
            responses=problem_responses(401))
async def dashboard_config(settings: SettingsDep, staff: CurrentStaff) -> DashboardConfig:
    d = settings.dashboard
    agencies = {code: a.name for code, a in settings.agencies.items()}
    mine = settings.agencies.get(staff.agency)
    area = list(mine.area) if mine and mine.area else None
    if d.basemap is not None:
        return DashboardConfig(timezone=d.timezone, agencies=agencies, area=area,
                               basemap_url=BASEMAP_PATH, tile_url=None,
                               tile_attribution=d.basemap_attribution or None)
    return DashboardConfig(timezone=d.timezone, agencies=agencies, area=area, basemap_url=None,
                           tile_url=d.tile_url or None, tile_attribution=d.tile_attribution or None)


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
async def gateway_health(incidents: IncidentsDep, registry: RegistryDep,
                         staff: CurrentStaff) -> list[GatewayHealth]:
    beats = await incidents.last_heartbeats()
    window = incidents.settings.gateway_silence_s
    now = time.time()
    out = []
    for g in registry.gateways():
        beat = beats.get(g.id)
        heard = beat.received_at if beat is not None else None
        depth = beat.buffer_depth if beat is not None else None
        out.append(GatewayHealth(
            gateway=g.id, name=g.name, site=g.site, last_heartbeat=heard,
            silent=heard is not None and now - heard > window, buffer_depth=depth))
    return out


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.api_route("/dashboard", methods=["GET", "HEAD"], include_in_schema=False)
async def dashboard_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


# HEAD too: uptime checks and proxies probe the page with it
@router.api_route("/dashboard/", methods=["GET", "HEAD"], include_in_schema=False)
async def dashboard_index() -> FileResponse:
    if not INDEX_HTML.is_file():
        raise Unavailable("the dashboard is not built on this hub: run deploy/setup.sh "
                          "(or deploy/build-dashboard.sh) and restart")
    # no-cache: a hub upgrade must not leave a command centre on yesterday's script
    return FileResponse(INDEX_HTML, headers={"Cache-Control": "no-cache"})


@router.get(BASEMAP_PATH, include_in_schema=False)
async def basemap(settings: SettingsDep) -> FileResponse:
    path = settings.dashboard.basemap
    if path is None or not path.is_file():
        raise NotFound("no basemap is configured (dashboard.basemap)")
    # Range requests come from FileResponse; no-cache + ETag lets a replaced extract show up
    # on the next load while unchanged bytes are revalidated cheaply.
    return FileResponse(path, media_type="application/vnd.pmtiles",
                        headers={"Cache-Control": "no-cache"})


class ImmutableFiles(StaticFiles):
    """Content-hashed build output: a name never changes meaning, so caches may keep it.

    The build writes a gzip copy beside each script and style (``<name>.gz``); a client that
    accepts gzip gets it (a phone on a slow link loads a third of the bytes)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        accepts = Headers(scope=scope).get("accept-encoding", "")
        if "gzip" in accepts and not path.endswith(".gz"):
            full, found = await anyio.to_thread.run_sync(self.lookup_path, path + ".gz")
            if found is not None and stat.S_ISREG(found.st_mode):
                media = mimetypes.guess_type(path)[0] or "application/octet-stream"
                response = FileResponse(full, stat_result=found, media_type=media,
                                        headers={"Content-Encoding": "gzip",
                                                 "Vary": "Accept-Encoding"})
                response.headers["Cache-Control"] = IMMUTABLE
                return response
        return await super().get_response(path, scope)

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers["Vary"] = "Accept-Encoding"
        return response


router.mount("/dashboard/assets", ImmutableFiles(directory=ASSETS_DIR, check_dir=False),
             name="dashboard-assets")
