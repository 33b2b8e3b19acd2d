"""The ``[incidents]`` section: routing, SLA per level, windows and bars.

Every default here is written down in docs/incidents.md; change both together.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from siaga.firmware_bridge.vocabulary import Level

__all__ = ["GATEWAY_SILENT", "CapSettings", "IncidentSettings", "LevelSla"]

# Hazards the hub itself raises (no detector sends them).
GATEWAY_SILENT = "gateway_silent"


def _default_routing() -> dict[str, list[str]]:
    return {
        "landslide": ["BPBD"],
        "flood": ["BPBD"],
        "fire": ["PMK"],
        "crowd": ["BPBD", "SATPOLPP"],
        "sensor_fault": ["DISKOMINFO"],
        GATEWAY_SILENT: ["DISKOMINFO"],
    }


class LevelSla(BaseModel):
    """Minutes from an agency's clock start to acknowledgement and to resolution."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    ack_min: float = Field(gt=0)
    """Minutes to acknowledgement."""
    resolve_min: float = Field(gt=0)
    """Minutes to resolution."""


def _default_sla() -> dict[str, LevelSla]:
    return {
        "awas": LevelSla(ack_min=5, resolve_min=120),
        "siaga": LevelSla(ack_min=15, resolve_min=240),
        "waspada": LevelSla(ack_min=60, resolve_min=720),
    }


class IncidentSettings(BaseModel):
    """Routing hazard -> agencies, SLA per level, and the windows the incident rules use.

    ``routing`` lists agencies per hazard; the first is the incident's primary ``agency``.
    ``site_kind_agencies`` adds agencies for a hazard at every site of a kind (the registry's
    site ``kind``): by default a fire at a ``market`` (crowded) also involves BPBD.
    ``site_agencies`` does the same for one site: ``{"alun-alun": {"fire": ["SATPOLPP"]}}``.
    ``sla`` is keyed by level name (``awas``, ``siaga``, ``waspada``); a level without an
    entry (Normal) has no deadline.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    routing: dict[str, list[str]] = Field(default_factory=_default_routing)
    """Agencies per hazard; the first is the primary."""
    site_kind_agencies: dict[str, dict[str, list[str]]] = Field(
        default_factory=lambda: {"market": {"fire": ["BPBD"]}})
    """Extra agencies per hazard at every site of a kind (the registry's kind)."""
    site_agencies: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    """Extra agencies per hazard at one site."""
    sla: dict[str, LevelSla] = Field(default_factory=_default_sla)
    """Minutes to acknowledge and resolve, per level (awas, siaga, waspada)."""
    reopen_window_s: float = Field(default=1800, ge=0)
    """A resolved incident that re-alerts within this many seconds reopens."""
    late_grace_s: float = Field(default=120, ge=0)
    """An alert older than its incident's opening by more than this is late (clock jitter and
    two gateways racing are not lateness).
    """
    report_radius_m: float = Field(default=500, gt=0)
    """Citizen reports join an open incident of the same hazard within this distance whose
    last activity is within this time.
    """
    report_window_s: float = Field(default=6 * 3600, gt=0)
    """See report_radius_m."""
    report_level: int = Field(default=int(Level.WASPADA), ge=2, le=4)
    """Level given to an incident citizen reports open (reports carry no level)."""
    report_confirm_count: int = Field(default=3, ge=2, le=50)
    """Independent citizen reports (different client addresses and contacts) of one hazard
    near each other that confirm each other and open an incident without a duty officer; a
    lone report waits in the triage queue (docs/reports.md).
    """
    report_confirm_radius_m: float = Field(default=300, gt=0, le=10_000)
    """How near each other reports must be to confirm each other."""
    report_confirm_window_s: float = Field(default=1800, gt=0, le=86400)
    """How close in time reports must be to confirm each other."""
    report_place_radius_m: float = Field(default=300, gt=0, le=10_000)
    """A report within this distance of a registry site is named after (and keyed by) the
    nearest one; farther out it gets a label from its coordinates.
    """
    report_limit_per_address: int = Field(default=10, ge=1, le=100_000)
    """Citizen reports admitted per client address within report_limit_window_s; more are
    answered 429 with Retry-After (docs/reports.md).
    """
    report_limit_per_reporter: int = Field(default=5, ge=1, le=100_000)
    """Citizen reports admitted per contact (the reporter's phone or e-mail, case and spaces
    ignored) within report_limit_window_s.
    """
    report_limit_window_s: float = Field(default=600, gt=0, le=86400)
    """The window of both report limits, in seconds."""
    alert_weight: float = Field(default=0.8, gt=0, lt=1)
    """Evidence weights behind ``confidence`` = 1 - prod(1 - weight) over distinct alerting
    nodes and reports.
    """
    report_weight: float = Field(default=0.3, gt=0, lt=1)
    """See alert_weight."""
    rapor_merah_bar: float = Field(default=0.8, ge=0, le=1)
    """Rapor merah: an agency whose on-time share falls under this bar is flagged."""
    gateway_silence_s: float = Field(default=180, gt=0)
    """A gateway silent this long (no heartbeat) opens a maintenance incident."""
    maintenance_level: int = Field(default=int(Level.WASPADA), ge=2, le=4)
    """Level of a gateway_silent incident."""
    escalation_chain: list[str] = Field(
        default_factory=lambda: ["duty_officer", "head_of_section", "head"], min_length=1)
    """Who is told while an agency has not acknowledged: rung 0 when the incident opens
    (api.notify's rules), rung 1 at the missed ack deadline, each further rung
    ``escalation_every_min`` later; acknowledging stops the chain. Positions are those in
    the staff contact records (docs/notifications.md).
    """
    escalation_chains: dict[str, list[str]] = Field(default_factory=dict)
    """escalation_chain per agency code, where one differs."""
    escalation_every_min: float = Field(default=10, gt=0)
    """Minutes between further rungs."""
    check_interval_s: float = Field(default=10, gt=0)
    """How often the SLA clock and the gateway watchdog look."""

    @model_validator(mode="after")
    def _known_names(self) -> Self:
        for hazard, agencies in self.routing.items():
            if not agencies:
                raise ValueError(f"incidents.routing.{hazard}: needs at least one agency")
        for table in ("site_kind_agencies", "site_agencies"):
            for site, by_hazard in getattr(self, table).items():
                for hazard in by_hazard:
                    if hazard not in self.routing:
                        raise ValueError(
                            f"incidents.{table}.{site}.{hazard}: hazard not in routing"
                        )
        for name in self.sla:
            if name not in {lv.label_id.lower() for lv in Level if lv > Level.NORMAL}:
                raise ValueError(
                    f"incidents.sla.{name}: not a level (use awas, siaga or waspada)"
                )
        return self

    def chain_for(self, agency: str) -> list[str]:
        return self.escalation_chains.get(agency) or self.escalation_chain

    def sla_for(self, level: int) -> LevelSla | None:
        return self.sla.get(Level(level).label_id.lower())


class CapSettings(BaseModel):
    """The ``[cap]`` section: the CAP 1.2 messages the hub keeps and its public feed.

    Every level change of an incident is a CAP message with a stable identifier; the feed
    (``GET /cap/feed.atom``) and each message (``GET /cap/{identifier}.xml``) are public when
    ``feed`` is on. See docs/cap.md.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    feed: bool = True
    """Serve the public feed and messages (off: both answer 404; staff exports still work)."""
    sender: str = Field(default="siaga-hub", min_length=1, max_length=200,
                        pattern=r"^[^\s,<&]+$")
    """CAP <sender>: a globally unique id of this hub, e.g. its domain
    (``bpbd.batukota.go.id``); no spaces or commas. Changing it changes every identifier's
    owner, so set it once."""
    sender_name: str = Field(default="Siaga", min_length=1, max_length=200)
    """CAP <senderName>: the agency people read, e.g. ``BPBD Kota Batu``."""
    hazards: list[str] = Field(default_factory=lambda: ["landslide", "flood", "fire",
                                                        "crowd"])
    """Hazards published in the public feed (equipment faults stay internal)."""
    min_level: int = Field(default=int(Level.WASPADA), ge=1, le=4)
    """An incident enters the public feed at this level (2 Waspada, 3 Siaga, 4 Awas)."""
    radius_km: float = Field(default=0.5, gt=0, le=100)
    """Radius of the <circle> drawn around a site without a hazard-zone polygon."""
    cancelled_keep_h: float = Field(default=24, gt=0, le=24 * 30)
    """How long a Cancel stays in the feed so subscribers see the all-clear."""
    geocode_name: str = Field(default="KEMENDAGRI", min_length=1, max_length=50)
    """<valueName> of the <geocode> carrying a site's ``region_code`` from the registry."""
    link: str = Field(default="", max_length=500)
    """Public base URL of the hub (``https://siaga.example.go.id``) for feed links; empty:
    links relative to the request's host."""
