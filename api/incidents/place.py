"""Naming where a citizen report is (pure: coordinates and the registry's sites in, a name out).

A report names its place by the nearest registry site within ``report_place_radius_m`` (the
site's id and name). Farther out it gets a short label from its coordinates: the distance and
compass direction from the nearest known site, ``1,2 km BL dari Alun-alun Batu`` (Indonesian
decimal comma and the eight Indonesian compass points), or, with no site within
:data:`FAR_M`, the coordinates themselves, ``7,8712 LS 112,5234 BT``. The registry holds no
desa/kelurahan boundaries (a site's ``desa`` is the site's own), so no desa is guessed.

A place away from every site still needs a dedupe key for its incident: :func:`place_key`
(``geo:<lat>,<lon>`` at 4 decimals, ~11 m). It is never shown; the label is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from siaga.api.incidents.geo import haversine_m

__all__ = ["FAR_M", "GEO_KEY_PREFIX", "PlaceName", "SitePoint", "name_place", "place_key"]

FAR_M = 20_000.0
"""Beyond this from every known site a label gives coordinates, not a direction."""
GEO_KEY_PREFIX = "geo:"

_POINTS_ID = ("U", "TL", "T", "TG", "S", "BD", "B", "BL")
_POINTS_EN = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


@dataclass(frozen=True, slots=True)
class SitePoint:
    """A registry site as place naming needs it."""

    id: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class PlaceName:
    """Where a report is: a registry site (``site`` set, the labels are its name) or a label
    from the coordinates (``site`` None)."""

    site: str | None
    label: str  # Indonesian
    label_en: str
    distance_m: float | None = None  # to ``site``, or to the site the label names


def _bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial bearing from point 1 to point 2, degrees clockwise from north."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def _point(bearing: float) -> int:
    return int((bearing + 22.5) // 45) % 8


def _distance_text(m: float, comma: bool) -> str:
    text = f"{m / 1000:.1f} km" if m >= 1000 else f"{round(m / 10) * 10:.0f} m"
    return text.replace(".", ",") if comma else text


def _coordinates(lat: float, lon: float, english: bool) -> str:
    ns = ("S" if english else "LS") if lat < 0 else ("N" if english else "LU")
    ew = ("W" if english else "BB") if lon < 0 else ("E" if english else "BT")
    text = f"{abs(lat):.4f} {ns} {abs(lon):.4f} {ew}"
    return text if english else text.replace(".", ",")


def name_place(lat: float, lon: float, sites: Iterable[SitePoint],
               radius_m: float) -> PlaceName:
    """The nearest site within ``radius_m``, else a label from the coordinates."""
    nearest: tuple[float, SitePoint] | None = None
    for s in sites:
        d = haversine_m(lat, lon, s.lat, s.lon)
        if nearest is None or d < nearest[0]:
            nearest = (d, s)
    if nearest is not None and nearest[0] <= radius_m:
        d, s = nearest
        return PlaceName(site=s.id, label=s.name, label_en=s.name, distance_m=round(d, 1))
    if nearest is None or nearest[0] > FAR_M:
        return PlaceName(site=None, label=_coordinates(lat, lon, False),
                         label_en=_coordinates(lat, lon, True))
    d, s = nearest
    # The direction is from the site to the report: "1,2 km BL dari X" = 1.2 km NW of X.
    point = _point(_bearing_deg(s.lat, s.lon, lat, lon))
    return PlaceName(
        site=None,
        label=f"{_distance_text(d, True)} {_POINTS_ID[point]} dari {s.name}",
        label_en=f"{_distance_text(d, False)} {_POINTS_EN[point]} of {s.name}",
        distance_m=round(d, 1))


def place_key(lat: float, lon: float) -> str:
    """The incident key of a place that is no registry site (never shown to people)."""
    return f"{GEO_KEY_PREFIX}{lat:.4f},{lon:.4f}"
