"""Row-level operations on the incident tables, shared by intake and lifecycle.

Every function here runs inside a transaction its caller opened (``transaction(conn)``,
BEGIN IMMEDIATE) and applies the pure rules of :mod:`api.incidents.rules`; none commits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from siaga.api.db import Connection
from siaga.api.incidents.cap_log import record_cap_message
from siaga.api.incidents.rules import (
    Source,
    agencies_for,
    apply_source,
    confidence,
    incident_level,
    incident_status,
    tighten_due,
)
from siaga.api.incidents.settings import IncidentSettings

__all__ = [
    "REPORT_DETECTOR",
    "WATCHDOG_DETECTOR",
    "Change",
    "add_timeline",
    "current_cycle",
    "enqueue_notice",
    "enqueue_report_notice",
    "open_incident",
    "refresh_evidence",
    "refresh_status",
    "reopen_incident",
    "set_source",
    "tighten_clocks",
]

# Pseudo-detectors for evidence that is not a sensor alert.
REPORT_DETECTOR = "citizen_report"
WATCHDOG_DETECTOR = "gateway_watchdog"


@dataclass(frozen=True, slots=True)
class Change:
    """What happened to an incident, for the live stream and the telemetry store."""

    type: str  # "incident.opened", "incident.updated", "incident.acknowledged", ...
    incident_id: int
    ts: float
    text: str = ""


def add_timeline(
    conn: Connection,
    incident_id: int,
    *,
    ts: float,
    recorded_at: float,
    kind: str,
    agency: str | None = None,
    actor: str | None = None,
    level: int | None = None,
    late: bool = False,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO incident_timeline (incident_id, ts, recorded_at, kind, agency, actor,"
        " level, late, note, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (incident_id, ts, recorded_at, kind, agency, actor, level, int(late), note,
         json.dumps(data or {}, sort_keys=True)),
    )


def enqueue_notice(conn: Connection, change: Change,
                   data: dict[str, Any] | None = None) -> None:
    """Write the outbox row for ``change`` inside the caller's transaction (see schema.py).

    The incident's level and status are taken as they stand now, so the notifier needs no
    second look at a state that may have moved on by the time it runs.
    """
    row = conn.execute("SELECT level, status FROM incidents WHERE id = ?",
                       (change.incident_id,)).fetchone()
    conn.execute(
        "INSERT INTO incident_outbox (incident_id, type, ts, level, status, text, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (change.incident_id, change.type, change.ts, row[0], row[1], change.text,
         json.dumps(data or {}, sort_keys=True)),
    )
    # The CAP log follows the same changes, in the same transaction (cap_log.py).
    record_cap_message(conn, change.incident_id, change.ts)


def enqueue_report_notice(conn: Connection, report_id: int, ts: float, level: int) -> None:
    """Write the outbox row telling that citizen report ``report_id`` waits in triage, inside
    the caller's transaction: the duty officers of its agencies hear of it (api/notify)."""
    conn.execute(
        "INSERT INTO incident_outbox (report_id, type, ts, level, status)"
        " VALUES (?, 'report.triage', ?, ?, 'triage')", (report_id, ts, level))


def current_cycle(conn: Connection, incident_id: int) -> int:
    row = conn.execute("SELECT reopen_count FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return int(row[0])


def _add_clocks(conn: Connection, incident_id: int, cycle: int, agencies: list[str],
                start: float) -> None:
    conn.executemany(
        "INSERT INTO incident_clocks (incident_id, cycle, agency, position, started_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [(incident_id, cycle, a, i, start) for i, a in enumerate(agencies)],
    )


def open_incident(
    conn: Connection,
    settings: IncidentSettings,
    *,
    hazard: str,
    site: str,
    at: float,
    origin: str,
    lat: float | None,
    lon: float | None,
    site_kind: str | None = None,
    opened_late: bool = False,
    unconfirmed: bool = False,
    agencies: Sequence[str] = (),
    place: tuple[str, str] | None = None,
) -> int:
    """Insert an incident at Normal with a clock per routed agency (``agencies`` when the
    caller routed already); the first source raises it. ``place`` is the (Indonesian,
    English) name of a place that is no registry site.

    The partial unique index makes a second open incident for the same (hazard, site) an
    IntegrityError, which only a caller outside BEGIN IMMEDIATE could ever provoke.
    """
    routed = list(agencies) or agencies_for(settings, hazard, site, site_kind)
    label, label_en = place if place is not None else (None, None)
    cur = conn.execute(
        "INSERT INTO incidents (hazard, site, level, max_level, agency, origin, lat, lon,"
        " opened_at, updated_at, opened_late, unconfirmed, place_label, place_label_en)"
        " VALUES (?, ?, 1, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (hazard, site, routed[0], origin, lat, lon, at, at, int(opened_late),
         int(unconfirmed), label, label_en),
    )
    incident_id = int(cur.fetchone()[0])
    _add_clocks(conn, incident_id, 0, routed, at)
    add_timeline(conn, incident_id, ts=at, recorded_at=at, kind="opened",
                 data={"agencies": routed, "origin": origin, "late": opened_late})
    return incident_id


def reopen_incident(conn: Connection, incident_id: int, *, at: float) -> None:
    """Back to open with fresh clocks for a new cycle, for the same agencies as before; the
    old cycle's clocks stay on record."""
    agencies = [r[0] for r in conn.execute(
        "SELECT c.agency FROM incident_clocks c JOIN incidents i ON i.id = c.incident_id"
        " AND i.reopen_count = c.cycle WHERE c.incident_id = ? ORDER BY c.position",
        (incident_id,),
    )]
    conn.execute(
        "UPDATE incidents SET status = 'open', resolved_at = NULL, updated_at = ?,"
        " reopen_count = reopen_count + 1 WHERE id = ?",
        (at, incident_id),
    )
    _add_clocks(conn, incident_id, current_cycle(conn, incident_id), agencies, at)
    add_timeline(conn, incident_id, ts=at, recorded_at=at, kind="reopen",
                 data={"agencies": agencies})


def tighten_clocks(conn: Connection, settings: IncidentSettings, incident_id: int,
                   *, at: float) -> None:
    """Move the current cycle's deadlines earlier for the incident's present level."""
    row = conn.execute("SELECT level, reopen_count FROM incidents WHERE id = ?",
                       (incident_id,)).fetchone()
    sla = settings.sla_for(int(row["level"]))
    if sla is None:
        return
    clocks = conn.execute(
        "SELECT agency, started_at, ack_due_at, resolve_due_at, acknowledged_at, resolved_at"
        " FROM incident_clocks WHERE incident_id = ? AND cycle = ?",
        (incident_id, row["reopen_count"]),
    ).fetchall()
    for c in clocks:
        start = max(at, c["started_at"])
        ack_due = c["ack_due_at"]
        if c["acknowledged_at"] is None:
            ack_due = tighten_due(ack_due, start, sla.ack_min)
        resolve_due = c["resolve_due_at"]
        if c["resolved_at"] is None:
            resolve_due = tighten_due(resolve_due, start, sla.resolve_min)
        conn.execute(
            "UPDATE incident_clocks SET ack_due_at = ?, resolve_due_at = ?"
            " WHERE incident_id = ? AND cycle = ? AND agency = ?",
            (ack_due, resolve_due, incident_id, row["reopen_count"], c["agency"]),
        )


def set_source(conn: Connection, settings: IncidentSettings, incident_id: int,
               source: Source, *, recorded_at: float) -> bool:
    """Record a source's level; returns whether the incident's level changed.

    A level change goes into the timeline at the source's own time and tightens the
    deadlines from the moment the hub learnt of it.
    """
    rows = conn.execute(
        "SELECT detector, node, level, ts FROM incident_sources WHERE incident_id = ?",
        (incident_id,),
    ).fetchall()
    before = {(r["detector"], r["node"]): Source(r["detector"], r["node"], r["level"], r["ts"])
              for r in rows}
    after = apply_source(before, source)
    key = (source.detector, source.node)
    if after[key] is not before.get(key):
        conn.execute(
            "INSERT INTO incident_sources (incident_id, detector, node, level, ts)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (incident_id, detector, node)"
            " DO UPDATE SET level = excluded.level, ts = excluded.ts",
            (incident_id, source.detector, source.node, source.level, source.ts),
        )
    old = conn.execute("SELECT level FROM incidents WHERE id = ?", (incident_id,)).fetchone()[0]
    new = incident_level(after.values())
    if new == old:
        return False
    conn.execute(
        "UPDATE incidents SET level = ?, max_level = MAX(max_level, ?) WHERE id = ?",
        (new, new, incident_id),
    )
    add_timeline(conn, incident_id, ts=source.ts, recorded_at=recorded_at, kind="level",
                 level=new, data={"from": old, "to": new, "detector": source.detector,
                                  "node": source.node})
    tighten_clocks(conn, settings, incident_id, at=recorded_at)
    return True


def refresh_evidence(conn: Connection, settings: IncidentSettings,
                     incident_id: int) -> None:
    """Confidence from distinct alerting nodes and reports; a sensor alert confirms."""
    nodes = conn.execute(
        "SELECT COUNT(DISTINCT node) FROM incident_sources WHERE incident_id = ?"
        " AND detector NOT IN (?, ?)",
        (incident_id, REPORT_DETECTOR, WATCHDOG_DETECTOR),
    ).fetchone()[0]
    reports = conn.execute("SELECT report_count FROM incidents WHERE id = ?",
                           (incident_id,)).fetchone()[0]
    watchdog = conn.execute(
        "SELECT COUNT(*) FROM incident_sources WHERE incident_id = ? AND detector = ?",
        (incident_id, WATCHDOG_DETECTOR),
    ).fetchone()[0]
    # The hub's own watchdog observation is certain.
    value = 1.0 if watchdog else confidence(settings, int(nodes), int(reports))
    conn.execute(
        "UPDATE incidents SET confidence = ?,"
        " unconfirmed = CASE WHEN ? > 0 THEN 0 ELSE unconfirmed END WHERE id = ?",
        (value, nodes + watchdog, incident_id),
    )


def refresh_status(conn: Connection, incident_id: int, *, at: float) -> str:
    """Derive the incident's status from its current clocks; stamp ``resolved_at``."""
    cycle = current_cycle(conn, incident_id)
    stages = [r[0] for r in conn.execute(
        "SELECT stage FROM incident_clocks WHERE incident_id = ? AND cycle = ?",
        (incident_id, cycle),
    )]
    status = incident_status(stages)
    conn.execute(
        "UPDATE incidents SET status = ?, updated_at = ?,"
        " resolved_at = CASE WHEN ? = 'resolved' THEN ? ELSE NULL END WHERE id = ?",
        (status, at, status, at, incident_id),
    )
    return status
