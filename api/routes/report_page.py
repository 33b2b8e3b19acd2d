"""The public citizen report page: ``/lapor/`` (no login), and the little it needs to know.

The page (``api/dashboard/report/``, built with the dashboard into ``build/report.html`` and
hashed assets) posts to ``POST /api/v1/reports`` like any other client. ``dashboard.report_page``
switches it off (404); the report endpoint itself stays, for other clients. Its map opens on
the configured agencies' areas, else the registry's extent, and draws the dashboard's offline
basemap, which is public already.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, Field

from siaga.api.dashboard_build import BUILD_DIR
from siaga.api.deps import RegistryDep, SettingsDep
from siaga.api.errors import NotFound, Unavailable
from siaga.api.routes.dashboard import BASEMAP_PATH

__all__ = ["REPORT_HTML", "REPORT_PATH", "router"]

REPORT_PATH = "/lapor/"
REPORT_HTML = BUILD_DIR / "report.html"

router = APIRouter(include_in_schema=False)


class ReportPageConfig(BaseModel):
    basemap_url: str | None = Field(description="The offline basemap (PMTiles), or null")
    attribution: str
    area: list[float] | None = Field(description="[south, west, north, east] the map opens on")
    agencies: dict[str, str] = Field(description="Agency codes and their names")


def _enabled(settings: SettingsDep) -> None:
    if not settings.dashboard.report_page:
        raise NotFound("the report page is switched off on this hub (dashboard.report_page)")


@router.get("/lapor")
async def report_slash(settings: SettingsDep) -> RedirectResponse:
    _enabled(settings)
    return RedirectResponse(REPORT_PATH, status_code=307)


@router.get(REPORT_PATH)
async def report_page(settings: SettingsDep) -> FileResponse:
    _enabled(settings)
    if not REPORT_HTML.is_file():
        raise Unavailable("the report page is not built on this hub: run deploy/setup.sh "
                          "(or deploy/build-dashboard.sh) and restart")
    return FileResponse(REPORT_HTML, headers={"Cache-Control": "no-cache"})


@router.get(REPORT_PATH + "config.json", response_model=ReportPageConfig)
async def report_page_config(settings: SettingsDep, registry: RegistryDep) -> ReportPageConfig:
    _enabled(settings)
    areas = [a.area for a in settings.agencies.values() if a.area]
    points = [(s.lat, s.lon) for s in registry.sites()]
    area: list[float] | None = None
    if areas:
        area = [min(a[0] for a in areas), min(a[1] for a in areas),
                max(a[2] for a in areas), max(a[3] for a in areas)]
    elif points:
        pad = 0.01
        area = [min(p[0] for p in points) - pad, min(p[1] for p in points) - pad,
                max(p[0] for p in points) + pad, max(p[1] for p in points) + pad]
    d = settings.dashboard
    return ReportPageConfig(
        basemap_url=BASEMAP_PATH if d.basemap is not None else None,
        attribution=d.basemap_attribution if d.basemap is not None else "",
        area=area, agencies={code: a.name for code, a in settings.agencies.items()})
