"""What comes in from gateways: alerts (citizen reports: api/incidents/reports.py; heartbeats:
api/incidents/heartbeats.py).

Each public function takes a connection, opens its own ``transaction(conn)`` (BEGIN
IMMEDIATE, so the decision "is there an open incident for this key?" and its write are one
atomic step across processes) and returns the changes for the live stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from siaga.api.db import Connection, Row, transaction
from siaga.api.incidents.geo import haversine_m
from siaga.api.incidents.place import GEO_KEY_PREFIX
from siaga.api.incidents.reports import absorb_waiting_reports
from siaga.api.incidents.rules import Action, IncidentWindow, Source, decide
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.incidents.store import (
    Change,
    add_timeline,
    enqueue_notice,
    open_incident,
    refresh_evidence,
    reopen_incident,
    set_source,
    tighten_clocks,
)
from siaga.firmware_bridge.uplink import UplinkAlert
from siaga.firmware_bridge.vocabulary import Level

__all__ = ["AlertFacts", "record_alerts"]

_PRIORITY = {"incident.opened": 3, "incident.reopened": 2, "incident.updated": 1}


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """An uplink alert as its gateway sent it, with what the hub resolved for it: the dedupe
    site (registry first) and the place, if known."""

    gateway: str
    alert: UplinkAlert
    site: str
    site_kind: str | None = None  # the registry site's kind (market, slope, ...)
    lat: float | None = None
    lon: float | None = None

    @property
    def ts(self) -> float:
        """The alert's time in POSIX seconds, the incidents' unit."""
        return self.alert.ts / 1000.0


def _window(row: Row | None) -> IncidentWindow | None:
    if row is None:
        return None
    return IncidentWindow(row["id"], row["opened_at"], row["resolved_at"])


def _adopt_report_incident(conn: Connection, settings: IncidentSettings,
                           a: AlertFacts) -> Row | None:
    """A sensor alert near a citizen-reported incident not yet tied to a site (a ``geo:``
    place key) takes it over under its own site (and so confirms it)."""
    if a.lat is None or a.lon is None or a.alert.level <= Level.NORMAL:
        return None
    rows = conn.execute(
        "SELECT id, lat, lon FROM incidents WHERE hazard = ? AND site LIKE ?"
        " AND status != 'resolved'",
        (a.alert.hazard, GEO_KEY_PREFIX + "%"),
    ).fetchall()
    near = [(haversine_m(a.lat, a.lon, r["lat"], r["lon"]), r["id"]) for r in rows]
    near = [n for n in near if n[0] <= settings.report_radius_m]
    if not near:
        return None
    _, incident_id = min(near)
    conn.execute("UPDATE incidents SET site = ?, place_label = NULL, place_label_en = NULL"
                 " WHERE id = ?", (a.site, incident_id))
    row: Row | None = conn.execute(
        "SELECT id, opened_at, resolved_at FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return row


def _record_alert(conn: Connection, settings: IncidentSettings, facts: AlertFacts,
                  received_at: float) -> Change | None:
    a, gateway, site, ts = facts.alert, facts.gateway, facts.site, facts.ts
    cur = conn.execute(
        "INSERT OR IGNORE INTO incident_alerts_seen (gateway, node, detector, ts, level,"
        " received_at) VALUES (?, ?, ?, ?, ?, ?)",
        (gateway, a.node, a.detector, a.ts, a.level, received_at),
    )
    if cur.rowcount == 0:
        return None  # seen before: idempotent
    open_row = conn.execute(
        "SELECT id, opened_at, resolved_at FROM incidents WHERE hazard = ? AND site = ?"
        " AND status != 'resolved'",
        (a.hazard, site),
    ).fetchone() or _adopt_report_incident(conn, settings, facts)
    last_row = conn.execute(
        "SELECT id, opened_at, resolved_at FROM incidents WHERE hazard = ? AND site = ?"
        " AND status = 'resolved' ORDER BY resolved_at DESC LIMIT 1",
        (a.hazard, site),
    ).fetchone()
    # An alert the gateway raised on a node's late backlog is late here too, as a
    # back-filled one is: it never reopens and shows as late in the timeline.
    d = decide(settings, level=a.level, ts=ts, backfill=a.backfill or a.late,
               open_incident=_window(open_row), last_resolved=_window(last_row))
    if d.action is Action.DROP:
        return None
    kind = "incident.updated"
    if d.action is Action.OPEN:
        at = received_at if d.late else min(ts, received_at)
        incident_id = open_incident(conn, settings, hazard=a.hazard, site=site, at=at,
                                    origin="alert", lat=facts.lat, lon=facts.lon,
                                    site_kind=facts.site_kind, opened_late=d.late)
        absorb_waiting_reports(conn, settings, incident_id, received_at)
        kind = "incident.opened"
    else:
        assert d.incident_id is not None
        incident_id = d.incident_id
    if d.action is Action.REOPEN:
        reopen_incident(conn, incident_id, at=received_at)
        kind = "incident.reopened"
    conn.execute(
        "UPDATE incident_alerts_seen SET incident_id = ? WHERE gateway = ? AND node = ?"
        " AND detector = ? AND ts = ? AND level = ?",
        (incident_id, gateway, a.node, a.detector, a.ts, a.level),
    )
    add_timeline(conn, incident_id, ts=ts, recorded_at=received_at, kind="alert",
                 level=a.level, late=d.late, note=a.explanation,
                 data={"gateway": gateway, "node": a.node, "detector": a.detector,
                       "channel": a.channel, "channels": list(a.channels),
                       "nodes": list(a.nodes), "previous_level": a.previous_level,
                       "explanation_en": a.explanation_en, "values": dict(a.values),
                       "thresholds": dict(a.thresholds)})
    conn.execute(
        "UPDATE incidents SET alert_count = alert_count + 1,"
        " late_alert_count = late_alert_count + ?, updated_at = MAX(updated_at, ?)"
        " WHERE id = ?",
        (int(d.late), received_at, incident_id),
    )
    if d.action is not Action.NOTE:
        set_source(conn, settings, incident_id, Source(a.detector, a.node, a.level, ts),
                   recorded_at=received_at)
        tighten_clocks(conn, settings, incident_id, at=received_at)
        refresh_evidence(conn, settings, incident_id)
    return Change(kind, incident_id, received_at, a.explanation)


def record_alerts(conn: Connection, settings: IncidentSettings,
                  alerts: Sequence[AlertFacts], received_at: float) -> list[Change]:
    """Commit a batch of alerts in one transaction; one change per incident touched."""
    changes: dict[int, Change] = {}
    with transaction(conn):
        for a in alerts:
            c = _record_alert(conn, settings, a, received_at)
            if c is None:
                continue
            prev = changes.get(c.incident_id)
            if prev is None or _PRIORITY[c.type] > _PRIORITY[prev.type]:
                changes[c.incident_id] = c
        # One outbox row per incident touched by the batch, not per alert.
        for change in changes.values():
            enqueue_notice(conn, change)
    return list(changes.values())
