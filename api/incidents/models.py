"""The incident records as the API shows them (one JSON form each), and the requests.

Times are ISO 8601 UTC (``2026-11-23T16:00:00Z``); levels are the national scale 1-4 with
their Indonesian names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, overload

from pydantic import BaseModel, ConfigDict, Field

from siaga.api.errors import InvalidInput
from siaga.firmware_bridge.vocabulary import ReportHazard

__all__ = [
    "ActionIn",
    "AgencyClock",
    "AgencyScoreOut",
    "Incident",
    "IncidentDetail",
    "NoteIn",
    "PlaceOut",
    "RejectIn",
    "ReportIn",
    "ReportOut",
    "ReportStatus",
    "Scorecard",
    "TimelineEntry",
    "TriageReport",
    "VerifyIn",
    "query_epoch",
    "utc",
]

Stage = Literal["open", "acknowledged", "dispatched", "resolved"]


@overload
def utc(ts: float) -> datetime: ...
@overload
def utc(ts: None) -> None: ...
@overload
def utc(ts: float | None) -> datetime | None: ...
def utc(ts: float | None) -> datetime | None:
    """POSIX seconds as an aware UTC datetime (how the API shows every time)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


_QUERY_MIN = datetime(2000, 1, 1, tzinfo=UTC)
_QUERY_MAX = datetime(2100, 1, 1, tzinfo=UTC)


def query_epoch(dt: datetime | None, name: str) -> float | None:
    """A ``from``/``to`` query time as POSIX seconds: naive means UTC, 2000-2100 only."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    if not _QUERY_MIN <= dt < _QUERY_MAX:
        raise InvalidInput(f"`{name}` must lie in the years 2000-2099", field=name)
    return dt.timestamp()


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class AgencyClock(_Out):
    """One involved agency's own clock on an incident (each is timed separately)."""

    agency: str
    primary: bool
    stage: Stage
    started_at: datetime = Field(description="When this agency's clock started")
    ack_due_at: datetime | None = Field(description="SLA deadline to acknowledge; none at Normal")
    resolve_due_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    dispatched_at: datetime | None
    dispatched_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    ack_escalated: bool
    resolve_escalated: bool


class Incident(_Out):
    id: int
    hazard: str
    level: int = Field(ge=1, le=4)
    level_name: str
    max_level: int = Field(ge=1, le=4, description="Highest level reached")
    agency: str = Field(description="The primary agency")
    agencies: list[str] = Field(description="Every involved agency, primary first")
    status: Stage
    site: str = Field(description="The registry site id, or for a citizen report away from "
                                  "every site an internal `geo:` key (never shown: use "
                                  "place_label)")
    place_label: str | None = Field(
        default=None, description="Where, in words, when `site` is no registry site (a citizen "
        "report's place from its coordinates, e.g. `1,2 km BL dari Alun-alun Batu`); null at a "
        "registry site (show the site's name)")
    place_label_en: str | None = Field(default=None, description="place_label in English")
    lat: float | None
    lon: float | None
    origin: Literal["alert", "report", "watchdog"]
    opened_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = Field(description="First acknowledgement by any agency")
    dispatched_at: datetime | None
    resolved_at: datetime | None
    alert_count: int
    report_count: int
    late_alert_count: int = Field(description="Alerts that arrived back-filled or out of order")
    opened_late: bool = Field(description="Opened by a back-filled alert")
    confidence: float = Field(ge=0, le=1)
    unconfirmed: bool = Field(description="Opened by citizen reports confirming each other, "
                              "no sensor or staff yet (kept out of the public CAP feed)")
    escalated: bool = Field(description="Some agency missed a deadline on it")
    reopen_count: int
    clocks: list[AgencyClock]


class TimelineEntry(_Out):
    id: int
    ts: datetime = Field(description="When it happened (an alert's own time, even if late)")
    recorded_at: datetime = Field(description="When the hub recorded it")
    kind: Literal[
        "opened", "alert", "level", "report", "ack", "dispatch", "resolve", "note",
        "escalation", "reopen", "gateway", "notify", "verified",
    ]
    agency: str | None
    actor: str | None
    level: int | None
    late: bool
    note: str | None
    data: dict[str, Any]


class IncidentDetail(Incident):
    timeline: list[TimelineEntry]


class ActionIn(BaseModel):
    """Body of ack / dispatch / resolve. ``agency`` is for admins acting for one agency."""

    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(max_length=2000)] | None = None
    agency: Annotated[str, Field(min_length=1, max_length=32)] | None = None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(min_length=1, max_length=2000)]


class ReportIn(BaseModel):
    """A citizen's report: no account needed, so every field is bounded."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    hazard: ReportHazard
    text: Annotated[str, Field(min_length=1, max_length=1000)]
    contact: Annotated[str, Field(max_length=200)] | None = None


ReportStatus = Literal["triage", "joined", "confirmed", "verified", "rejected"]


class PlaceOut(_Out):
    """Where a report is: the nearest registry site within report_place_radius_m, else a
    label from its coordinates."""

    site: str | None = Field(description="The registry site's id, or null away from every site")
    name: str = Field(description="The site's name, or e.g. `1,2 km BL dari Alun-alun Batu`")
    name_en: str


class ReportOut(_Out):
    report_id: int
    status: ReportStatus = Field(
        description="triage: waiting for a duty officer; joined: joined an open incident; "
                    "confirmed: opened an incident with other independent reports")
    incident_id: int | None = Field(description="The incident it joined or opened; null in triage")
    joined: bool = Field(description="True: joined an open incident")
    distance_m: float | None = Field(description="Distance to the incident joined")
    place: PlaceOut
    agencies: list[str] = Field(description="Agencies the report is routed to")


class TriageReport(_Out):
    """A citizen report as the agencies it is routed to see it (with its contact)."""

    id: int
    received_at: datetime
    hazard: str
    lat: float
    lon: float
    text: str
    contact: str | None
    place: PlaceOut
    agencies: list[str] = Field(description="Agencies the hazard routes to; the first triages")
    status: ReportStatus
    incident_id: int | None
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str | None


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(max_length=2000)] | None = None


class RejectIn(BaseModel):
    """Why a report is rejected (spam, a joke, a duplicate, outside the area, ...)."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=500)]


class AgencyScoreOut(_Out):
    agency: str
    handled: int
    acknowledged: int
    resolved: int
    escalated: int
    ack_measured: int
    ack_on_time: int
    ack_on_time_share: float | None
    resolve_measured: int
    resolve_on_time: int
    resolve_on_time_share: float | None
    ack_median_s: float | None
    ack_p90_s: float | None
    resolve_median_s: float | None
    resolve_p90_s: float | None
    rapor_merah: bool


class Scorecard(_Out):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    rapor_merah_bar: float
    p90_method: str = "nearest-rank"
    agencies: list[AgencyScoreOut]
