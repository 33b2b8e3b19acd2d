"""The CitizenReportService: citizen reports as the rest of the hub sees them (asyncio).

A report is admitted under the limits per client address and per contact (counted in the
database, so every hub process shares them), then stored in one transaction in the database's
worker thread (:mod:`api.incidents.reports`): it joins an open incident, opens one with
independent reports that confirm it, or waits in triage until a duty officer verifies or
rejects it. After the commit, an incident it changed goes out through the incident service
(live event, annotation) and the report itself to the agencies it is routed to. Every outcome
is counted in ``siaga_reports_total`` (docs/reports.md).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from siaga.api.db import Database
from siaga.api.incidents.corroboration import reporter_key
from siaga.api.incidents.lifecycle import Actor
from siaga.api.incidents.models import PlaceOut, ReportIn, ReportOut, TriageReport
from siaga.api.incidents.place import SitePoint, name_place
from siaga.api.incidents.report_limits import report_windows
from siaga.api.incidents.reports import (
    ReportFacts,
    load_report,
    record_report,
    reject_report,
    triage_queue,
    verify_report,
)
from siaga.api.incidents.service import PlaceDirectory
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.incidents.store import Change
from siaga.api.metrics import MetricsRegistry
from siaga.api.throttle import Throttle
from siaga.firmware_bridge.reading import iso_utc

__all__ = ["CitizenReportService", "IncidentPublisher"]


class IncidentPublisher(Protocol):
    """What the report service needs of ``api.incidents.service.IncidentService``."""

    async def publish(self, changes: Sequence[Change]) -> None: ...

    async def announce(self, event: Mapping[str, Any], agencies: Collection[str]) -> None: ...


class CitizenReportService:
    """``registry`` and ``metrics`` are the hub's, ``incidents`` its incident service (see
    api/services.py); ``clock`` gives POSIX seconds and is injectable so tests can move time."""

    def __init__(self, db: Database, settings: IncidentSettings, registry: PlaceDirectory,
                 incidents: IncidentPublisher, metrics: MetricsRegistry, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.incidents = incidents
        self.clock = clock
        # Report limits counted in the database: every hub process shares them.
        self._limits = Throttle(db, clock)
        self._outcomes = metrics.counter(
            "siaga_reports_total", "Citizen reports by outcome (triage, joined, confirmed, "
            "verified, rejected, limited_address, limited_reporter, too_large)", ("outcome",))

    def count(self, outcome: str) -> None:
        """Count a report refused before it reached the service (too large, invalid)."""
        self._outcomes.inc(outcome=outcome)

    async def wait_s(self, address: str, contact: str | None) -> tuple[float, str]:
        """Seconds this report must wait under the limits (0: admitted, and counted), and
        which limit held it ("address" or "reporter")."""
        wait, full = await self._limits.admit(report_windows(self.settings, address, contact))
        if wait <= 0:
            return 0.0, ""
        which = "address" if full == 0 else "reporter"
        self._outcomes.inc(outcome=f"limited_{which}")
        return wait, which

    async def submit(self, body: ReportIn, address: str) -> ReportOut:
        """Store a citizen report from ``address`` (the client): it joins an open incident,
        opens one with other independent reports, or waits in triage (api/incidents/reports.py)."""
        points = [SitePoint(s.id, s.name, s.lat, s.lon) for s in self.registry.sites()]
        place = name_place(body.lat, body.lon, points, self.settings.report_place_radius_m)
        site = self.registry.site(place.site) if place.site is not None else None
        facts = ReportFacts(
            lat=body.lat, lon=body.lon, hazard=body.hazard, text=body.text,
            contact=body.contact, place=place,
            address_key=hashlib.sha256(address.encode()).hexdigest()[:32],
            reporter_key=reporter_key(body.contact),
            site_kind=site.kind if site is not None and site.kind else None)
        now = self.clock()
        out = await self.db.run(lambda c: record_report(c, self.settings, facts, now))
        self._outcomes.inc(outcome=out.status)
        if out.change is not None:
            await self.incidents.publish([out.change])
        else:
            await self._announce("report.triage", out.report_id)
        return ReportOut(report_id=out.report_id, status=out.status,  # type: ignore[arg-type]
                         incident_id=out.incident_id, joined=out.status == "joined",
                         distance_m=out.distance_m,
                         place=PlaceOut(site=place.site, name=place.label,
                                        name_en=place.label_en),
                         agencies=list(out.agencies))

    async def triage(self, scope: frozenset[str] | None) -> list[TriageReport]:
        """Reports waiting for a duty officer of the caller's agencies."""
        return await self.db.run(lambda c: triage_queue(c, scope))

    async def verify(self, report_id: int, actor: Actor, note: str | None) -> TriageReport:
        now = self.clock()
        out = await self.db.run(
            lambda c: verify_report(c, self.settings, report_id, actor, note, now))
        self._outcomes.inc(outcome="verified")
        assert out.change is not None
        await self.incidents.publish([out.change])
        return await self._announce("report.verified", report_id)

    async def reject(self, report_id: int, actor: Actor, reason: str) -> TriageReport:
        now = self.clock()
        await self.db.run(lambda c: reject_report(c, report_id, actor, reason, now))
        self._outcomes.inc(outcome="rejected")
        return await self._announce("report.rejected", report_id)

    async def _announce(self, kind: str, report_id: int) -> TriageReport:
        """Tell the agencies a report is routed to that it came or was decided on."""
        report = await self.db.run(lambda c: load_report(c, report_id))
        assert report is not None
        await self.incidents.announce({"type": kind, "ts": iso_utc(self.clock()),
                                       "report": report.model_dump(mode="json")},
                                      report.agencies)
        return report
