"""The IncidentService: the incident engine as the rest of the hub sees it (asyncio).

Decisions run in the database's worker thread inside one BEGIN IMMEDIATE transaction each
(:mod:`api.incidents.intake`, :mod:`api.incidents.lifecycle`); after the commit, the service
publishes the changes on the live bus and hands them to the telemetry store as annotation
points (in the background: annotations must not hold up a gateway's acknowledgement).

Two periodic tasks: the SLA clock (escalates clocks past their deadline) and the gateway
watchdog (opens a maintenance incident for a gateway silent past the window). Both read and
write only the shared database, so several hub processes may run them side by side; with a
cluster (api/cluster.py) only its leader runs them (``scheduler``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from siaga.api.db import Connection, Database
from siaga.api.incidents import lifecycle
from siaga.api.incidents.cap import CapMessage
from siaga.api.incidents.cap_log import current_messages, load_message
from siaga.api.incidents.errors import IncidentNotFound
from siaga.api.incidents.heartbeats import (
    HeartbeatSeen,
    gateway_returned,
    gateway_silenced,
    last_heartbeats,
    record_heartbeat,
    silence_open,
    silent_gateways,
)
from siaga.api.incidents.intake import AlertFacts, record_alerts
from siaga.api.incidents.lifecycle import Actor, climb_chains, escalate_overdue
from siaga.api.incidents.models import (
    AgencyScoreOut,
    Incident,
    IncidentDetail,
    Scorecard,
    utc,
)
from siaga.api.incidents.queries import (
    IncidentFilter,
    load_detail,
    load_incident,
    load_incidents,
    open_counts_by_level,
    scorecard_clocks,
    visible,
)
from siaga.api.incidents.rules import StaffAction, dedupe_site
from siaga.api.incidents.schema import ensure_schema
from siaga.api.incidents.scorecard import score_agencies
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.incidents.store import Change
from siaga.api.metrics import MetricsRegistry
from siaga.api.registry import NodeInfo, Site
from siaga.api.telemetry.records import IncidentEventPoint
from siaga.firmware_bridge.reading import iso_utc
from siaga.firmware_bridge.uplink import Heartbeat, UplinkAlert

__all__ = [
    "AnnotationWriter",
    "EventPublisher",
    "IncidentService",
    "PlaceDirectory",
    "open_incidents",
]

log = logging.getLogger(__name__)


class PlaceDirectory(Protocol):
    """What the service needs of ``api.registry.Registry``: where a node or site is."""

    def node(self, node_id: str) -> NodeInfo | None: ...

    def site(self, site_id: str) -> Site | None: ...

    def sites(self) -> list[Site]: ...


class EventPublisher(Protocol):
    """What the service needs of ``api.live.LiveBus`` or ``api.live_journal.LiveJournal``:
    fan an event out to agencies; ``flush`` waits until what was published is stored, so a
    gateway's ack (or an API answer) never precedes the live event of its change."""

    def publish(self, event: Mapping[str, Any], agencies: Collection[str]) -> object: ...

    async def flush(self) -> None: ...


class AnnotationWriter(Protocol):
    """What the service needs of the telemetry store: incident events as annotations."""

    async def write_incident_events(self, events: Sequence[IncidentEventPoint]) -> None: ...


class IncidentService:
    """``registry``, ``bus``, ``telemetry`` and ``metrics`` are the hub's (see api/services.py;
    ``telemetry`` None writes no annotations); ``clock`` gives POSIX seconds and is
    injectable so tests can move time."""

    def __init__(self, db: Database, settings: IncidentSettings, registry: PlaceDirectory,
                 bus: EventPublisher, telemetry: AnnotationWriter | None,
                 metrics: MetricsRegistry, *, agencies: Sequence[str] = (),
                 clock: Callable[[], float] = time.time,
                 scheduler: Callable[[], bool] = lambda: True) -> None:
        self.db = db
        # Whether this process runs the periodic tasks now (the cluster's leader does).
        self._scheduler = scheduler
        self.settings = settings
        self.registry = registry
        self.bus = bus
        self.telemetry = telemetry
        self.clock = clock
        self._agencies = tuple(agencies)
        self._tasks: list[asyncio.Task[None]] = []
        self._annotations: set[asyncio.Task[None]] = set()
        self._alerts = metrics.counter("siaga_incident_alerts_total",
                                       "Alerts received by the incident engine", ("hazard",))
        self._events = metrics.counter("siaga_incident_events_total",
                                       "Incident events published", ("type",))
        self._open = metrics.gauge("siaga_incidents_open", "Open incidents by level", ("level",))
        self._annotation_failures = metrics.counter(
            "siaga_incident_annotation_failures_total",
            "Incident events the telemetry store did not take")
        metrics.add_collector(self._refresh_open)

    # -- life -----------------------------------------------------------------------------

    async def start(self, *, background: bool = True) -> None:
        await self.db.run(ensure_schema)
        if background:
            self._tasks = [asyncio.create_task(self._every(self.check_deadlines), name="sla"),
                           asyncio.create_task(self._every(self.check_gateways), name="watch")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._annotations:
            await asyncio.gather(*self._annotations, return_exceptions=True)

    async def _every(self, step: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(self.settings.check_interval_s)
            if not self._scheduler():
                continue
            try:
                await step()
            except Exception:  # a bad pass must not stop the clock for good
                log.exception("incident task %s failed; retrying next interval", step)

    async def _refresh_open(self) -> None:
        counts = await self.db.run(open_counts_by_level)
        for level, n in counts.items():
            self._open.set(n, level=str(level))

    # -- intake ---------------------------------------------------------------------------

    def _facts(self, gateway: str, a: UplinkAlert) -> AlertFacts:
        node = self.registry.node(a.node)
        site_id = dedupe_site(a.node, node.site if node is not None else None, a.site)
        site = self.registry.site(site_id)
        lat = lon = None
        if node is not None:
            lat, lon = node.lat, node.lon
        elif site is not None:
            lat, lon = site.lat, site.lon
        return AlertFacts(gateway, a, site_id,
                          site.kind if site is not None and site.kind else None, lat, lon)

    async def ingest_alerts(self, gateway: str, alerts: Sequence[UplinkAlert],
                            received_at: float) -> None:
        """Commit the alerts (idempotent on their identity) before returning; then publish."""
        if not alerts:
            return
        facts = [self._facts(gateway, a) for a in alerts]
        changes = await self.db.run(
            lambda c: record_alerts(c, self.settings, facts, received_at))
        for a in alerts:
            self._alerts.inc(hazard=a.hazard)
        await self.publish(changes)

    async def on_heartbeat(self, gateway: str, heartbeat: Heartbeat) -> None:
        now = self.clock()

        def run(conn: Connection) -> Change | None:
            record_heartbeat(conn, gateway, heartbeat.ts / 1000.0, now, heartbeat.buffer.depth)
            # Most heartbeats find nothing to close: look before taking the write lock.
            if not silence_open(conn, gateway):
                return None
            return gateway_returned(conn, self.settings, gateway, now)

        change = await self.db.run(run)
        await self.publish([change] if change is not None else [])

    # -- staff steps ----------------------------------------------------------------------

    async def act(self, incident_id: int, action: StaffAction, actor: Actor,
                  note: str | None = None, agency: str | None = None) -> Incident:
        now = self.clock()

        def run(conn: Connection) -> tuple[Change, Incident | None]:
            change = lifecycle.act(conn, incident_id, action, actor, note, now, agency)
            return change, load_incident(conn, incident_id)

        change, incident = await self.db.run(run)
        assert incident is not None
        await self._publish_loaded([(change, incident)])
        return incident

    async def note(self, incident_id: int, actor: Actor, note: str) -> Incident:
        now = self.clock()

        def run(conn: Connection) -> Incident | None:
            lifecycle.add_note(conn, incident_id, actor, note, now)
            return load_incident(conn, incident_id)

        incident = await self.db.run(run)
        assert incident is not None
        await self._publish_loaded([(Change("incident.updated", incident_id, now,
                                            f"note by {actor.username}"), incident)])
        return incident

    # -- CAP log ---------------------------------------------------------------------------

    async def cap_feed(self, *, hazards: Collection[str], min_level: int,
                       cancelled_since: float) -> list[CapMessage]:
        """The current CAP messages (api/incidents/cap_log.py: current_messages)."""
        return await self.db.run(lambda c: current_messages(
            c, hazards=hazards, min_level=min_level, cancelled_since=cancelled_since))

    async def cap_message(self, identifier: str) -> CapMessage | None:
        return await self.db.run(lambda c: load_message(c, identifier))

    async def cap_latest(self, incident_id: int,
                         scope: frozenset[str] | None) -> CapMessage | None:
        """The incident's latest CAP message, if the staff scope sees the incident."""
        await self.get(incident_id, scope)

        def run(conn: Connection) -> CapMessage | None:
            row = conn.execute("SELECT identifier FROM cap_messages WHERE incident_id = ?"
                               " ORDER BY seq DESC LIMIT 1", (incident_id,)).fetchone()
            return None if row is None else load_message(conn, row[0])

        return await self.db.run(run)

    async def last_heartbeats(self) -> dict[str, HeartbeatSeen]:
        """The last heartbeat heard from each gateway that ever sent one."""
        return await self.db.run(last_heartbeats)

    # -- periodic -------------------------------------------------------------------------

    async def check_deadlines(self) -> list[Change]:
        """One pass of the SLA clock."""
        now = self.clock()
        changes = await self.db.run(
            lambda c: escalate_overdue(c, now, self.settings)
            + climb_chains(c, self.settings, now))
        await self.publish(changes)
        return changes

    async def check_gateways(self) -> list[Change]:
        """One pass of the gateway watchdog."""
        now = self.clock()
        window = self.settings.gateway_silence_s

        def run(conn: Connection) -> list[Change]:
            opened = [gateway_silenced(conn, self.settings, gw, now)
                      for gw in silent_gateways(conn, now, window)]
            return [c for c in opened if c is not None]

        changes = await self.db.run(run)
        await self.publish(changes)
        return changes

    # -- reads ----------------------------------------------------------------------------

    async def find(self, f: IncidentFilter) -> list[Incident]:
        return await self.db.run(lambda c: load_incidents(c, f))

    async def get(self, incident_id: int, scope: frozenset[str] | None) -> IncidentDetail:
        def run(conn: Connection) -> IncidentDetail | None:
            return load_detail(conn, incident_id) if visible(conn, incident_id, scope) else None

        detail = await self.db.run(run)
        if detail is None:
            raise IncidentNotFound(f"no incident {incident_id}", incident=incident_id)
        return detail

    async def scorecard(self, start: float, end: float,
                        scope: frozenset[str] | None = None) -> Scorecard:
        clocks = await self.db.run(lambda c: scorecard_clocks(c, start, end))
        scores = score_agencies(clocks, now=self.clock(), bar=self.settings.rapor_merah_bar,
                                agencies=self._agencies)
        return Scorecard(
            start=utc(start), end=utc(end), rapor_merah_bar=self.settings.rapor_merah_bar,
            agencies=[AgencyScoreOut.model_validate(s, from_attributes=True) for s in scores
                      if scope is None or s.agency in scope],
        )

    # -- publishing -----------------------------------------------------------------------

    async def publish(self, changes: Sequence[Change]) -> None:
        """Publish committed changes: each incident as it is now, on the live bus and as an
        annotation (the citizen report service publishes its incidents' changes here too)."""
        if not changes:
            return
        ids = [c.incident_id for c in changes]
        loaded = await self.db.run(lambda conn: [load_incident(conn, i) for i in ids])
        await self._publish_loaded([(c, i) for c, i in zip(changes, loaded, strict=True)
                                    if i is not None])

    async def _publish_loaded(self, pairs: Sequence[tuple[Change, Incident]]) -> None:
        points = []
        for change, incident in pairs:
            self.bus.publish({"type": change.type, "ts": iso_utc(change.ts),
                              "text": change.text, "incident": incident.model_dump(mode="json")},
                             incident.agencies)
            self._events.inc(type=change.type)
            points.append(IncidentEventPoint(
                ts=int(change.ts * 1000), id=str(incident.id), type=change.type,
                hazard=incident.hazard, level=incident.level, site=incident.site,
                agencies=tuple(incident.agencies), text=change.text))
        if self.telemetry is not None and points:
            task = asyncio.create_task(self._annotate(self.telemetry, points))
            self._annotations.add(task)
            task.add_done_callback(self._annotations.discard)
        if pairs:
            await self.bus.flush()

    async def announce(self, event: Mapping[str, Any], agencies: Collection[str]) -> None:
        """Publish an event that is not an incident's change (a citizen report's) to
        ``agencies``, counted by its type; returns once it is stored."""
        self.bus.publish(event, agencies)
        self._events.inc(type=event["type"])
        await self.bus.flush()

    async def _annotate(self, telemetry: AnnotationWriter,
                        points: list[IncidentEventPoint]) -> None:
        try:
            await telemetry.write_incident_events(points)
        except Exception as exc:  # the incident itself is committed; only the annotation is lost
            self._annotation_failures.inc(len(points))
            log.warning("incident annotations not written to telemetry: %s", exc)


@asynccontextmanager
async def open_incidents(
    db: Database, settings: IncidentSettings, *, registry: PlaceDirectory, bus: EventPublisher,
    telemetry: AnnotationWriter | None, metrics: MetricsRegistry, agencies: Sequence[str],
    scheduler: Callable[[], bool] = lambda: True,
) -> AsyncIterator[IncidentService]:
    """The service with its clock and watchdog running (opened by api/services.py)."""
    service = IncidentService(db, settings, registry, bus, telemetry, metrics,
                              agencies=agencies, scheduler=scheduler)
    await service.start()
    try:
        yield service
    finally:
        await service.close()
