"""Citizen reports in the database: intake, the duty officer's verify / reject, the queue.

A report that comes in (:func:`record_report`):

1. joins the nearest open incident of its hazard within ``report_radius_m`` whose last
   activity is within ``report_window_s`` (as before triage existed), else
2. opens an incident together with the reports waiting near it when at least
   ``report_confirm_count`` of them are independent (api/incidents/corroboration.py); the
   clock starts then, each report keeps its own time in the timeline; the incident stays
   ``unconfirmed`` (out of the public CAP feed) until a sensor or a staff member confirms, else
3. waits in the triage queue: no incident, no clock, no CAP message; an outbox row tells the
   duty officers of its agencies (api/notify) that it waits.

A duty officer of an agency the report is routed to verifies it (:func:`verify_report`: the
incident opens now, or the report joins one that opened meanwhile) or rejects it with a
reason (:func:`reject_report`). Whenever an incident opens, the reports waiting near it join
it (:func:`absorb_waiting_reports`, also called when a sensor alert opens one).

Every function runs in the caller's connection; the public ones open their own transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from siaga.api.db import Connection, Row, transaction
from siaga.api.incidents.corroboration import PendingReport, independent_group
from siaga.api.incidents.errors import NotInvolved, ReportNotFound, TransitionError
from siaga.api.incidents.geo import haversine_m
from siaga.api.incidents.lifecycle import Actor
from siaga.api.incidents.models import PlaceOut, TriageReport, utc
from siaga.api.incidents.place import PlaceName, place_key
from siaga.api.incidents.rules import Source, agencies_for
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.incidents.store import (
    REPORT_DETECTOR,
    Change,
    add_timeline,
    enqueue_notice,
    enqueue_report_notice,
    open_incident,
    refresh_evidence,
    set_source,
    tighten_clocks,
)

__all__ = [
    "ReportFacts",
    "ReportOutcome",
    "absorb_waiting_reports",
    "load_report",
    "record_report",
    "reject_report",
    "triage_queue",
    "triage_report",
    "verify_report",
]


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """A report as the service resolved it: its place named, its sender's keys hashed."""

    lat: float
    lon: float
    hazard: str
    text: str
    contact: str | None
    place: PlaceName
    address_key: str
    reporter_key: str
    site_kind: str | None = None  # the named registry site's kind, for routing


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    report_id: int
    status: str  # triage | joined | confirmed | verified
    incident_id: int | None
    change: Change | None
    distance_m: float | None = None
    agencies: tuple[str, ...] = ()


def _site(row: Row) -> str:
    return row["place_site"] or place_key(row["lat"], row["lon"])


def _near_open_incident(conn: Connection, settings: IncidentSettings, hazard: str, lat: float,
                        lon: float, site: str, at: float) -> tuple[int, float] | None:
    """The open incident a report at (lat, lon) joins: at its own site key, else the nearest
    of the hazard within the radius and window."""
    same = conn.execute("SELECT id FROM incidents WHERE hazard = ? AND site = ?"
                        " AND status != 'resolved'", (hazard, site)).fetchone()
    rows = conn.execute(
        "SELECT id, lat, lon FROM incidents WHERE hazard = ? AND status != 'resolved'"
        " AND lat IS NOT NULL AND lon IS NOT NULL AND updated_at >= ?",
        (hazard, at - settings.report_window_s),
    ).fetchall()
    near = sorted((haversine_m(lat, lon, r["lat"], r["lon"]), r["id"]) for r in rows)
    if near and near[0][0] <= settings.report_radius_m:
        return near[0][1], round(near[0][0], 1)
    if same is not None:
        return int(same["id"]), 0.0
    return None


def _attach(conn: Connection, settings: IncidentSettings, report: Row, incident_id: int,
            distance: float | None, status: str, at: float) -> None:
    """Tie a report to an incident: counted, in the timeline at its own time, a source."""
    conn.execute("UPDATE incident_reports SET incident_id = ?, distance_m = ?, status = ?"
                 " WHERE id = ?", (incident_id, distance, status, report["id"]))
    conn.execute("UPDATE incidents SET report_count = report_count + 1,"
                 " updated_at = MAX(updated_at, ?) WHERE id = ?", (at, incident_id))
    # The contact stays in incident_reports; the timeline shows the report itself.
    add_timeline(conn, incident_id, ts=report["received_at"], recorded_at=at, kind="report",
                 note=report["text"],
                 data={"report": report["id"], "lat": report["lat"], "lon": report["lon"],
                       "distance_m": distance, "place": report["place_label"],
                       "place_en": report["place_label_en"], "status": status})
    set_source(conn, settings, incident_id,
               Source(REPORT_DETECTOR, f"report:{report['id']}", settings.report_level, at),
               recorded_at=at)
    tighten_clocks(conn, settings, incident_id, at=at)
    refresh_evidence(conn, settings, incident_id)


def _open_for(conn: Connection, settings: IncidentSettings, report: Row, at: float,
              *, unconfirmed: bool) -> int:
    """Open the incident a report (the earliest of a group) names: its site, or its place."""
    place = None if report["place_site"] else (report["place_label"], report["place_label_en"])
    return open_incident(conn, settings, hazard=report["hazard"], site=_site(report), at=at,
                         origin="report", lat=report["lat"], lon=report["lon"],
                         unconfirmed=unconfirmed, agencies=json.loads(report["agencies"]),
                         place=place)


def absorb_waiting_reports(conn: Connection, settings: IncidentSettings, incident_id: int,
                           at: float) -> int:
    """Join the reports waiting in triage near a just-opened incident to it; how many."""
    inc = conn.execute("SELECT hazard, lat, lon FROM incidents WHERE id = ?",
                       (incident_id,)).fetchone()
    if inc is None or inc["lat"] is None or inc["lon"] is None:
        return 0
    rows = conn.execute(
        "SELECT * FROM incident_reports WHERE status = 'triage' AND hazard = ?"
        " AND received_at >= ? ORDER BY received_at, id",
        (inc["hazard"], at - settings.report_window_s)).fetchall()
    n = 0
    for r in rows:
        d = haversine_m(inc["lat"], inc["lon"], r["lat"], r["lon"])
        if d <= settings.report_radius_m:
            _attach(conn, settings, r, incident_id, round(d, 1), "joined", at)
            n += 1
    return n


def _pending(row: Row) -> PendingReport:
    return PendingReport(row["id"], row["received_at"], row["lat"], row["lon"],
                         row["address_key"], row["reporter_key"])


def record_report(conn: Connection, settings: IncidentSettings, r: ReportFacts,
                  received_at: float) -> ReportOutcome:
    """Store a report and join, confirm or queue it (see the module docstring)."""
    site = r.place.site or place_key(r.lat, r.lon)
    agencies = agencies_for(settings, r.hazard, site, r.site_kind)
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO incident_reports (received_at, lat, lon, hazard, text, contact, status,"
            " agencies, place_site, place_label, place_label_en, address_key, reporter_key)"
            " VALUES (?, ?, ?, ?, ?, ?, 'triage', ?, ?, ?, ?, ?, ?) RETURNING id",
            (received_at, r.lat, r.lon, r.hazard, r.text, r.contact, json.dumps(agencies),
             r.place.site, r.place.label, r.place.label_en, r.address_key, r.reporter_key),
        )
        report_id = int(cur.fetchone()[0])
        row = conn.execute("SELECT * FROM incident_reports WHERE id = ?",
                           (report_id,)).fetchone()
        target = _near_open_incident(conn, settings, r.hazard, r.lat, r.lon, site, received_at)
        if target is not None:
            incident_id, distance = target
            _attach(conn, settings, row, incident_id, distance, "joined", received_at)
            change = Change("incident.updated", incident_id, received_at, "citizen report")
            enqueue_notice(conn, change)
            return ReportOutcome(report_id, "joined", incident_id, change, distance,
                                 tuple(agencies))
        waiting = conn.execute(
            "SELECT * FROM incident_reports WHERE status = 'triage' AND hazard = ? AND id != ?"
            " AND received_at >= ?",
            (r.hazard, report_id, received_at - settings.report_confirm_window_s)).fetchall()
        group = independent_group(_pending(row), [_pending(w) for w in waiting],
                                  radius_m=settings.report_confirm_radius_m,
                                  window_s=settings.report_confirm_window_s)
        if len(group) < settings.report_confirm_count:
            enqueue_report_notice(conn, report_id, received_at, settings.report_level)
            return ReportOutcome(report_id, "triage", None, None, None, tuple(agencies))
        rows = {w["id"]: w for w in waiting} | {report_id: row}
        first = rows[group[0].id]
        incident_id = _open_for(conn, settings, first, received_at, unconfirmed=True)
        for member in group:
            _attach(conn, settings, rows[member.id], incident_id, None, "confirmed",
                    received_at)
        absorb_waiting_reports(conn, settings, incident_id, received_at)
        change = Change("incident.opened", incident_id, received_at,
                        f"{len(group)} citizen reports confirm each other")
        enqueue_notice(conn, change)
        return ReportOutcome(report_id, "confirmed", incident_id, change, None,
                             tuple(agencies))


def _decidable(conn: Connection, report_id: int, actor: Actor) -> Row:
    """The report, if the actor may decide on it (the rules of api/incidents/lifecycle.py:
    staff of another agency get 404, or 403 when their agency sees everything; a viewer 403)."""
    row = conn.execute("SELECT * FROM incident_reports WHERE id = ?", (report_id,)).fetchone()
    if row is None:
        raise ReportNotFound(f"no report {report_id}", report=report_id)
    agencies = json.loads(row["agencies"])
    if actor.role != "admin" and actor.agency not in agencies:
        if actor.sees_all:
            raise NotInvolved(f"report {report_id} is for {', '.join(agencies)}",
                              agency=actor.agency)
        raise ReportNotFound(f"no report {report_id}", report=report_id)
    if actor.role not in ("admin", "responder"):
        raise NotInvolved(f"role {actor.role!r} cannot verify or reject reports")
    if row["status"] != "triage":
        raise TransitionError(f"report {report_id} is already {row['status']}",
                              report=report_id)
    return row


def verify_report(conn: Connection, settings: IncidentSettings, report_id: int, actor: Actor,
                  note: str | None, now: float) -> ReportOutcome:
    """A duty officer confirms a waiting report: its incident opens now (or it joins one
    that opened meanwhile); confirmed by staff, the incident is not ``unconfirmed``."""
    with transaction(conn):
        row = _decidable(conn, report_id, actor)
        conn.execute("UPDATE incident_reports SET decided_at = ?, decided_by = ?,"
                     " decision_note = ? WHERE id = ?", (now, actor.username, note, report_id))
        target = _near_open_incident(conn, settings, row["hazard"], row["lat"], row["lon"],
                                     _site(row), now)
        if target is not None:
            incident_id, distance = target
            kind = "incident.updated"
        else:
            incident_id, distance = _open_for(conn, settings, row, now, unconfirmed=False), None
            kind = "incident.opened"
        _attach(conn, settings, row, incident_id, distance, "verified", now)
        conn.execute("UPDATE incidents SET unconfirmed = 0 WHERE id = ?", (incident_id,))
        add_timeline(conn, incident_id, ts=now, recorded_at=now, kind="verified",
                     agency=actor.agency, actor=actor.username, note=note,
                     data={"report": report_id})
        if kind == "incident.opened":
            absorb_waiting_reports(conn, settings, incident_id, now)
        change = Change(kind, incident_id, now, f"report verified by {actor.username}")
        enqueue_notice(conn, change)
    return ReportOutcome(report_id, "verified", incident_id, change, distance)


def reject_report(conn: Connection, report_id: int, actor: Actor, reason: str,
                  now: float) -> list[str]:
    """A duty officer rejects a waiting report with a reason; the agencies it was for."""
    with transaction(conn):
        row = _decidable(conn, report_id, actor)
        conn.execute("UPDATE incident_reports SET status = 'rejected', decided_at = ?,"
                     " decided_by = ?, decision_note = ? WHERE id = ?",
                     (now, actor.username, reason, report_id))
    agencies: list[str] = json.loads(row["agencies"])
    return agencies


def triage_report(row: Row) -> TriageReport:
    return TriageReport(
        id=row["id"], received_at=utc(row["received_at"]), hazard=row["hazard"],
        lat=row["lat"], lon=row["lon"], text=row["text"], contact=row["contact"],
        place=PlaceOut(site=row["place_site"], name=row["place_label"],
                       name_en=row["place_label_en"]),
        agencies=json.loads(row["agencies"]), status=row["status"],
        incident_id=row["incident_id"], decided_at=utc(row["decided_at"]),
        decided_by=row["decided_by"], decision_note=row["decision_note"])


def triage_queue(conn: Connection, scope: frozenset[str] | None,
                 limit: int = 200) -> list[TriageReport]:
    """Reports waiting for a duty officer of an agency in ``scope`` (None: all), newest first."""
    where, args = "status = 'triage'", []
    if scope is not None:
        if not scope:
            return []
        # agencies is a JSON list of agency codes (A-Z, 0-9): a quoted code is a whole one.
        where += " AND (" + " OR ".join("agencies LIKE ?" for _ in scope) + ")"
        args = [f'%"{a}"%' for a in sorted(scope)]
    rows = conn.execute(f"SELECT * FROM incident_reports WHERE {where}"
                        " ORDER BY received_at DESC, id DESC LIMIT ?", (*args, limit)).fetchall()
    return [triage_report(r) for r in rows]


def load_report(conn: Connection, report_id: int) -> TriageReport | None:
    row = conn.execute("SELECT * FROM incident_reports WHERE id = ?", (report_id,)).fetchone()
    return None if row is None else triage_report(row)
