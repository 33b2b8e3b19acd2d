"""Distances on the Earth for joining citizen reports to incidents."""

from __future__ import annotations

import math

__all__ = ["EARTH_RADIUS_M", "haversine_m"]

# The IUGG mean radius; the spherical error (< 0.5 %) is far below a report's GPS error.
EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS 84 points (degrees)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
