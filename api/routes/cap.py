"""The public CAP 1.2 feed: ``GET /cap/feed.atom`` and ``GET /cap/{identifier}.xml``.

No login: other warning systems (InaRISK, BMKG, SAMBRO, Google Public Alerts) subscribe by
polling. Both answer ETag and Last-Modified and honour ``If-None-Match`` /
``If-Modified-Since`` with 304, so a poll every minute costs a few hundred bytes. ``[cap]
feed = false`` turns both off (404). See docs/cap.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request, Response

from siaga.api.deps import IncidentsDep, RegistryDep, SettingsDep
from siaga.api.errors import NotFound, problem_responses
from siaga.api.incidents.cap import CapMessage, cap_xml
from siaga.api.incidents.cap_feed import entity_tag, feed_atom, http_date, site_area
from siaga.api.registry import Registry
from siaga.api.settings import HubSettings

__all__ = ["render_message", "router"]

router = APIRouter(prefix="/cap", tags=["cap"])

CAP_TYPE = "application/cap+xml"
ATOM_TYPE = "application/atom+xml"


def render_message(msg: CapMessage, settings: HubSettings, registry: Registry) -> bytes:
    """One recorded message as its CAP document (the feed's and the staff export's)."""
    area = site_area(registry.site(msg.incident.site), msg.incident, settings.cap)
    return cap_xml(msg, sender=settings.cap.sender, sender_name=settings.cap.sender_name,
                   tz=ZoneInfo(settings.dashboard.timezone), area=area,
                   public=msg.incident.hazard in settings.cap.hazards)


def _conditional(request: Request, body: bytes, modified: datetime, media_type: str,
                 cache: str) -> Response:
    tag = entity_tag(body)
    headers = {"ETag": tag, "Last-Modified": http_date(modified), "Cache-Control": cache}
    match = request.headers.get("if-none-match")
    if match is not None:
        if tag in {t.strip() for t in match.split(",")} or match.strip() == "*":
            return Response(status_code=304, headers=headers)
    else:
        since = request.headers.get("if-modified-since")
        try:
            when = parsedate_to_datetime(since) if since else None
        except (TypeError, ValueError):
            when = None  # an unreadable date is ignored, as RFC 9110 says
        if when is not None and when.tzinfo is not None \
                and int(modified.timestamp()) <= int(when.timestamp()):
            return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _enabled(settings: HubSettings) -> None:
    if not settings.cap.feed:
        raise NotFound("the public CAP feed is switched off ([cap] feed)")


@router.get("/feed.atom", response_class=Response,
            summary="Current CAP alerts as an Atom feed (public)",
            responses={200: {"content": {ATOM_TYPE: {}}, "description": "Atom 1.0"},
                       304: {"description": "Not modified"}, **problem_responses(404)})
async def get_feed(request: Request, incidents: IncidentsDep, registry: RegistryDep,
                   settings: SettingsDep) -> Response:
    _enabled(settings)
    cap = settings.cap
    now = incidents.clock()
    messages = await incidents.cap_feed(hazards=cap.hazards, min_level=cap.min_level,
                                        cancelled_since=now - cap.cancelled_keep_h * 3600)
    base = cap.link.rstrip("/") or str(request.base_url).rstrip("/")
    areas = [site_area(registry.site(m.incident.site), m.incident, cap).desc
             for m in messages]
    body = feed_atom(messages, base_url=base, sender=cap.sender,
                     title=f"{cap.sender_name}: peringatan dini (CAP 1.2)", areas=areas)
    modified = max((m.sent for m in messages), default=datetime(1970, 1, 1, tzinfo=UTC))
    return _conditional(request, body, modified, ATOM_TYPE, "no-cache")


@router.get("/{identifier}.xml", response_class=Response,
            summary="One CAP 1.2 message (public)",
            responses={200: {"content": {CAP_TYPE: {}}, "description": "CAP 1.2 XML"},
                       304: {"description": "Not modified"}, **problem_responses(404, 422)})
async def get_message(
    request: Request,
    identifier: Annotated[str, Path(pattern=r"^siaga-[0-9]{1,18}-[0-9]{1,9}$")],
    incidents: IncidentsDep, registry: RegistryDep, settings: SettingsDep,
) -> Response:
    _enabled(settings)
    msg = await incidents.cap_message(identifier)
    if msg is None or msg.incident.hazard not in settings.cap.hazards:
        raise NotFound(f"no public CAP message {identifier}")
    body = render_message(msg, settings, registry)
    # A message never changes once recorded; a day of caching is safe.
    return _conditional(request, body, msg.sent, CAP_TYPE, "public, max-age=86400")
