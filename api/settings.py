"""The hub's one settings object: TOML sections plus ``SIAGA_HUB__SECTION__KEY`` overrides.

Each section is a typed model owned by the package that uses it (``[telemetry]`` in
api.telemetry.settings, ``[ingest]``/``[mqtt]`` in api.ingest.settings, ``[incidents]`` in
api.incidents.settings, ``[notify]`` in api.notify.settings; the rest here); this module
composes them.
Every model forbids unknown keys, so a typo is an error that names the dotted key
(``server.prot: unknown key``) instead of a default silently used; the CLI exits 78 on it.

Relative paths (``database.path``, ``registry.file``, ``telemetry.path``) are taken relative to
the working directory of the process (the systemd unit sets it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from siaga.analytics.errors import ConfigError as AnalyticsConfigError
from siaga.analytics.settings_file import apply_env, config_error, read_toml
from siaga.api.errors import ConfigError
from siaga.api.incidents.settings import CapSettings, IncidentSettings
from siaga.api.ingest.settings import IngestSettings, MqttSettings
from siaga.api.notify.settings import NotifySettings
from siaga.api.telemetry.settings import TelemetrySettings

__all__ = [
    "ENV_PREFIX",
    "AgencyInfo",
    "AuthSettings",
    "DashboardSettings",
    "DatabaseSettings",
    "HubSettings",
    "LiveSettings",
    "RegistrySettings",
    "ServerSettings",
    "load_settings",
    "settings_from_mapping",
]

ENV_PREFIX = "SIAGA_HUB__"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# The unauthenticated routes' body limits: the one place the 4 KiB is stated
# (HubSettings.route_body_limits lays server.body_limits over them).
_PUBLIC_BODY_LIMITS = {"/api/v1/reports": 4096, "/api/v1/auth/": 4096}


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    """Listen address."""
    port: int = Field(default=8080, ge=0, le=65535)
    """Listen port."""
    root_path: str = ""
    """Set when a reverse proxy serves the hub under a path, e.g. "/siaga"."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-* headers uvicorn trusts (comma-separated IPs, or "*")."""
    log_level: str = Field(default="info", pattern=r"^(critical|error|warning|info|debug)$")
    """critical, error, warning, info or debug."""
    shutdown_timeout_s: float = Field(default=5.0, ge=0, le=300)
    """Live streams never end by themselves; on shutdown they are cut after this long."""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body of a route body_limits does not name; enforced while the body
    streams in (Content-Length or chunked), 413 past it."""
    body_limits: dict[str, int] = Field(default_factory=dict)
    """Body limits per path prefix (longest prefix wins), over the defaults: 4 KiB for the
    public report and login routes (/api/v1/reports, /api/v1/auth/), the larger of
    ingest.max_batch_bytes and ingest.max_compressed_bytes for the ingest routes. A prefix
    named here replaces its default; the prefixes it does not name keep theirs."""

    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """A request line and its headers must be complete this long after their first byte (a
    new connection's opening), however slowly they trickle in; else the connection is closed."""
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """Longest pause while a request body is arriving before the connection is closed."""
    keep_alive_s: float = Field(default=5.0, gt=0, le=300)
    """How long an idle kept-alive connection stays open (uvicorn timeout_keep_alive)."""
    max_connections: int = Field(default=1000, ge=1, le=1_000_000)
    """Open connections at most. A new one beyond evicts the oldest connection with no request
    running (half-sent headers, idle keep-alive); when all are busy it gets 503. Lowered to fit
    the descriptor limit (LimitNOFILE) if that is smaller."""
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    """Largest request line plus headers (h11 max_incomplete_event_size); beyond, 400."""
    backlog: int = Field(default=2048, ge=1, le=65535)
    """Connections the kernel queues before the hub accepts them (listen backlog)."""


class DatabaseSettings(_Section):
    """The hub's database: accounts, registry, incidents, audit. An SQLite file by default;
    a PostgreSQL server when ``url`` is set (several hub processes on several machines)."""

    path: Path = Path("siaga-hub.sqlite3")
    """The hub's SQLite file, used when no url is set; hub processes on one machine may share it."""
    url: str | None = Field(default=None, pattern=r"^postgres(ql)?://")
    """PostgreSQL URL (postgresql://user:password@host:port/db); set, it replaces the SQLite
    file. Put the password in SIAGA_HUB__DATABASE__URL or ~/.pgpass, not in the file."""
    pool_size: int = Field(default=10, ge=1, le=200)
    """PostgreSQL connections per hub process at most."""
    connect_timeout_s: float = Field(default=10.0, gt=0, le=300)
    """How long a PostgreSQL connection (or a free one from the pool) is waited for."""


class AuthSettings(_Section):
    token_ttl_s: int = Field(default=12 * 3600, ge=60, le=30 * 86400)
    """Lifetime of a staff bearer token from POST /api/v1/auth/token."""
    password_min_length: int = Field(default=10, ge=8, le=128)
    """Shortest password a staff account may get."""
    login_attempts: int = Field(default=5, ge=1, le=1000)
    """Failed logins for one username within login_window_s before further tries wait an
    exponentially growing delay (counted in the hub database, for all its processes); never
    for an address this username has logged in from before (docs/security.md).
    """
    login_attempts_per_address: int = Field(default=20, ge=1, le=100_000)
    """Failed logins from one client address within login_window_s before its tries get 429."""
    login_window_s: float = Field(default=300.0, gt=0, le=86400)
    """The window of login_attempts and login_attempts_per_address."""
    login_backoff_max_s: float = Field(default=300.0, ge=1, le=86400)
    """Longest delay a username's backoff reaches."""
    hash_workers: int = Field(default=2, ge=1, le=64)
    """Threads that check password hashes (scrypt, ~95 ms each), off the database lock."""
    hash_queue: int = Field(default=32, ge=0, le=10_000)
    """Logins that may wait for a hashing thread; more at once get 503 with Retry-After."""
    see_all_agencies: list[str] = Field(default_factory=list)
    """Agencies whose staff see every agency's incidents and events (admins always do)."""
    allow_query_token: bool = True
    """EventSource in browsers cannot set headers, so GET /api/v1/stream also takes
    ?access_token=; turn off where URLs with tokens could end up in proxy logs.
    """


class RegistrySettings(_Section):
    file: Path | None = None
    """Sites, nodes and gateways loaded at start (TOML or JSON); None = only what the API added."""


class DashboardSettings(_Section):
    timezone: str = "Asia/Jakarta"
    """IANA zone times are shown in (WIB; Asia/Makassar WITA, Asia/Jayapura WIT)."""
    tile_url: str = ""
    """Empty: the map draws the registry's coordinates on a plain base, which works in a
    command centre without internet; set a {z}/{x}/{y} URL where a tile server is reachable.
    """
    tile_attribution: str = ""
    """Shown under the map when tiles are drawn."""
    basemap: Path | None = None
    """Offline basemap: a PMTiles archive (raster or vector tiles, e.g. a regional extract cut
    with `pmtiles extract`) served at /dashboard/basemap.pmtiles by range requests; wins over
    tile_url.
    """
    basemap_attribution: str = "© OpenStreetMap contributors"
    """Shown under the map when the basemap is drawn."""
    report_page: bool = True
    """Serve the public citizen report page at /lapor/ (no login; docs/reports.md). Off: /lapor/
    answers 404; POST /api/v1/reports still takes reports from other clients.
    """

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r} (e.g. Asia/Jakarta, Asia/Makassar)") \
                from exc
        return v


class LiveSettings(_Section):
    queue_size: int = Field(default=256, ge=1, le=100_000)
    """Events a subscriber may fall behind by before it is dropped (the hub never waits)."""
    keepalive_s: float = Field(default=15.0, gt=0, le=300)
    """Comment lines that keep proxies and EventSource from timing out an idle stream."""
    replay: int = Field(default=1000, ge=0, le=100_000)
    """Recent events each process replays to a reconnecting client (Last-Event-ID), filled
    from the database at start; a client further behind is sent `stream.reload`."""


class AgencyInfo(_Section):
    name: str = Field(min_length=1)
    """The agency's name as staff read it."""
    name_en: str | None = None
    """Its English name."""
    area: tuple[float, float, float, float] | None = None
    """[south, west, north, east] in degrees: the area the dashboard's map opens on for this
    agency's staff (e.g. a kecamatan, a city, a province); none: the registry's extent."""

    @field_validator("area")
    @classmethod
    def _area_on_earth(cls, v: tuple[float, float, float, float] | None
                       ) -> tuple[float, float, float, float] | None:
        if v is None:
            return v
        south, west, north, east = v
        if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
            raise ValueError("give [south, west, north, east] with south < north, west < east")
        return v


DEFAULT_AGENCIES: dict[str, AgencyInfo] = {
    "BPBD": AgencyInfo(name="Badan Penanggulangan Bencana Daerah",
                       name_en="Regional Disaster Management Agency"),
    "PMK": AgencyInfo(name="Pemadam Kebakaran (Damkar)", name_en="Fire and Rescue Service"),
    "SATPOLPP": AgencyInfo(name="Satuan Polisi Pamong Praja",
                           name_en="Public Order Agency"),
    "DISKOMINFO": AgencyInfo(name="Dinas Komunikasi dan Informatika",
                             name_en="Communications and IT Office (operations)"),
}


class HubSettings(_Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    agencies: dict[str, AgencyInfo] = Field(default_factory=lambda: dict(DEFAULT_AGENCIES))
    """Agencies by upper-case code (staff accounts and routing refer to the codes); a table
    here replaces the defaults (BPBD, PMK, SATPOLPP, DISKOMINFO), so list every agency used.
    """
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    cap: CapSettings = Field(default_factory=CapSettings)

    @field_validator("agencies")
    @classmethod
    def _agency_codes(cls, v: dict[str, AgencyInfo]) -> dict[str, AgencyInfo]:
        for code in v:
            if not code.isupper() or not code.replace("_", "").isalnum():
                raise ValueError(f"agency code {code!r} must be upper-case letters/digits")
        if not v:
            raise ValueError("at least one agency is needed")
        return v

    @model_validator(mode="after")
    def _postgres_telemetry_needs_postgres(self) -> Self:
        if self.telemetry.kind == "postgresql" and self.database.url is None:
            raise ValueError('telemetry: kind = "postgresql" keeps readings in the hub database;'
                             " set [database] url to a PostgreSQL server")
        return self

    def route_body_limits(self) -> dict[str, int]:
        """Body limits by path prefix (longest prefix wins; ``server.max_body_bytes`` for the
        rest): what the hub enforces and what a reverse proxy in front of it should allow.
        ``server.body_limits`` overrides the defaults of the prefixes it names only: a table
        naming another prefix must not lift the unauthenticated routes to max_body_bytes."""
        ingest = max(self.ingest.max_batch_bytes, self.ingest.max_compressed_bytes)
        return {"/api/v1/ingest": ingest, "/api/v1/heartbeat": ingest, **_PUBLIC_BODY_LIMITS,
                **self.server.body_limits}


def settings_from_mapping(data: Mapping[str, Any],
                          env: Mapping[str, str] | None = None) -> HubSettings:
    """Build settings from already-parsed TOML data, applying ``SIAGA_HUB__*`` overrides."""
    merged = json.loads(json.dumps(data, default=str))
    try:
        apply_env(merged, env or {}, ENV_PREFIX)
        try:
            return HubSettings.model_validate(merged)
        except ValidationError as exc:
            raise config_error(exc) from None
    except AnalyticsConfigError as exc:
        raise ConfigError(exc.key, exc.problem) from None


def load_settings(path: str | Path | None,
                  env: Mapping[str, str] | None = None) -> HubSettings:
    """Read ``hub.toml`` (or nothing: all defaults) and the process environment.

    ``env`` defaults to ``os.environ``; pass ``{}`` to ignore the environment.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = read_toml(Path(path))
        except AnalyticsConfigError as exc:
            raise ConfigError(exc.key, exc.problem) from None
    return settings_from_mapping(data, os.environ if env is None else env)
