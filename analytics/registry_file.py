"""The site registry file's schema, declared once for the hub and the gateway.

Tables keyed by id: ``[sites.<id>]``, ``[gateways.<id>]``, ``[nodes.<id>]`` (TOML, or JSON with the
same shape; see deploy/demo/registry.toml). The hub (api.registry) keeps these entries in its
database and serves them; the gateway (gateway.site_registry) takes node sites, soil
calibration, rain gauges and crowd zones from the same file. References between entries (a
node's site) are checked by the hub, which also holds entries added through its API.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from siaga.analytics.errors import ConfigError
from siaga.analytics.settings_file import config_error

__all__ = [
    "ID_PATTERN",
    "Calibration",
    "GatewayIn",
    "HazardZone",
    "NodeIn",
    "RegistryFile",
    "SiteIn",
    "read_registry_file",
]

# Site, gateway and node ids.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Calibration(_In):
    """Per-node constants the detectors and dashboards need; absent = the channel default."""

    mm_per_tip: float | None = Field(default=None, gt=0, le=10,
                                     description="Rain gauge: mm of rain per bucket tip")
    soil_field_capacity: float | None = Field(
        default=None, ge=0, le=100, description="Soil VWC (%) at field capacity")
    soil_saturation: float | None = Field(
        default=None, ge=0, le=100, description="Soil VWC (%) at saturation")
    zone_capacity: int | None = Field(default=None, ge=1,
                                      description="People counter: safe occupancy of the zone")
    zone_area_m2: float | None = Field(default=None, gt=0,
                                       description="People counter: zone area in m²")

    @model_validator(mode="after")
    def _soil_order(self) -> Self:
        fc, sat = self.soil_field_capacity, self.soil_saturation
        if fc is not None and sat is not None and fc > sat:
            raise ValueError("soil_field_capacity must not exceed soil_saturation")
        return self


class HazardZone(_In):
    """An area of a site the map draws: a landslide-prone slope, a market hall, a river bank."""

    name: str = Field(min_length=1, max_length=200, description="Name staff read")
    hazard: str = Field(default="", max_length=50, description="landslide, flood, fire, crowd")
    polygon: list[tuple[float, float]] = Field(
        min_length=3, max_length=1000, description="[lat, lon] corners, in order")

    @model_validator(mode="after")
    def _on_earth(self) -> Self:
        for lat, lon in self.polygon:
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"corner [{lat}, {lon}] is not a [lat, lon] pair")
        return self


class SiteIn(_In):
    name: str = Field(min_length=1, max_length=200, description="Name staff read")
    desa: str = Field(default="", max_length=100, description="Village (desa/kelurahan)")
    kecamatan: str = Field(default="", max_length=100, description="District (kecamatan)")
    lat: float = Field(ge=-90, le=90, description="Latitude (WGS 84)")
    lon: float = Field(ge=-180, le=180, description="Longitude (WGS 84)")
    kind: str = Field(default="", max_length=50, description="slope, river, market, square, ...")
    region_code: str = Field(default="", max_length=20, pattern=r"^[0-9.]*$",
                             description="BPS/Kemendagri region code of the desa "
                                         "(35.79.01.2001); CAP <geocode> when set")
    zones: list[HazardZone] = Field(default_factory=list, max_length=50,
                                    description="Hazard-zone polygons drawn on the map")


class GatewayIn(_In):
    name: str = Field(default="", max_length=200, description="Name staff read")
    site: str | None = Field(default=None, pattern=ID_PATTERN,
                             description="Site the gateway is installed at")
    lat: float | None = Field(default=None, ge=-90, le=90,
                              description="Gateway position; the site's when absent")
    lon: float | None = Field(default=None, ge=-180, le=180, description="With lat")

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self


class NodeIn(_In):
    site: str = Field(pattern=ID_PATTERN, description="Site the node stands at")
    gateway: str | None = Field(default=None, pattern=ID_PATTERN,
                                description="Gateway the node reports through")
    name: str = Field(default="", max_length=200, description="Name staff read; the id when empty")
    lat: float | None = Field(default=None, ge=-90, le=90,
                              description="Node position; the site's when absent")
    lon: float | None = Field(default=None, ge=-180, le=180, description="With lat")
    channels: list[str] = Field(default_factory=list,
                                description="Channel keys the node reports (vwc, rain, ...)")
    calibration: Calibration = Field(default_factory=Calibration)

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self


class RegistryFile(_In):
    sites: dict[str, SiteIn] = Field(default_factory=dict)
    gateways: dict[str, GatewayIn] = Field(default_factory=dict)
    nodes: dict[str, NodeIn] = Field(default_factory=dict)


def read_registry_file(path: Path, key: str) -> RegistryFile:
    """Parse and validate a registry file; ConfigError(``key``, "<file>: <entry key>: why")."""
    try:
        text = path.read_text(encoding="utf-8")
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(key, f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(key, f"{path}: cannot read: {exc}") from None
    try:
        parsed = RegistryFile.model_validate(data)
    except ValidationError as exc:
        err = config_error(exc)
        raise ConfigError(key, f"{path}: {err.key}: {err.problem}") from None
    pattern = re.compile(ID_PATTERN)
    for ident in (*parsed.sites, *parsed.gateways, *parsed.nodes):
        if not pattern.match(ident):
            raise ConfigError(key, f"{path}: id {ident!r}: 1-64 of A-Z a-z 0-9 . _ -")
    return parsed
