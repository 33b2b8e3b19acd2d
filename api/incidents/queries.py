"""Reads: incidents as the API shows them, filtered and scoped by agency; report-card clocks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from siaga.api.db import Connection, Row
from siaga.api.incidents.models import AgencyClock, Incident, IncidentDetail, TimelineEntry, utc
from siaga.api.incidents.scorecard import ClockFacts
from siaga.firmware_bridge.vocabulary import Level

__all__ = [
    "IncidentFilter",
    "load_detail",
    "load_incident",
    "load_incidents",
    "open_counts_by_level",
    "scorecard_clocks",
    "visible",
]


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """``agency`` filters by involvement; ``scope`` is the agencies the caller sees (None = all)."""

    status: str | None = None  # a stage, or "active" for every stage but resolved
    agency: str | None = None
    hazard: str | None = None
    level: int | None = None
    start: float | None = None  # opened_at >= start
    end: float | None = None  # opened_at < end
    scope: frozenset[str] | None = None
    limit: int = 200
    offset: int = 0


def _clocks(conn: Connection, ids: Sequence[int]) -> dict[int, list[AgencyClock]]:
    out: dict[int, list[AgencyClock]] = {i: [] for i in ids}
    if not ids:
        return out
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        "SELECT c.* FROM incident_clocks c JOIN incidents i ON i.id = c.incident_id"
        f" AND i.reopen_count = c.cycle WHERE c.incident_id IN ({marks})"
        " ORDER BY c.incident_id, c.position",
        list(ids),
    ).fetchall()
    for r in rows:
        out[r["incident_id"]].append(AgencyClock(
            agency=r["agency"], primary=r["position"] == 0, stage=r["stage"],
            started_at=utc(r["started_at"]), ack_due_at=utc(r["ack_due_at"]),
            resolve_due_at=utc(r["resolve_due_at"]),
            acknowledged_at=utc(r["acknowledged_at"]), acknowledged_by=r["acknowledged_by"],
            dispatched_at=utc(r["dispatched_at"]), dispatched_by=r["dispatched_by"],
            resolved_at=utc(r["resolved_at"]), resolved_by=r["resolved_by"],
            ack_escalated=bool(r["ack_escalated"]),
            resolve_escalated=bool(r["resolve_escalated"]),
        ))
    return out


def _incident(r: Row, clocks: list[AgencyClock]) -> Incident:
    acks = [c.acknowledged_at for c in clocks if c.acknowledged_at is not None]
    dispatches = [c.dispatched_at for c in clocks if c.dispatched_at is not None]
    return Incident(
        id=r["id"], hazard=r["hazard"], level=r["level"], level_name=Level(r["level"]).label_id,
        max_level=r["max_level"], agency=r["agency"], agencies=[c.agency for c in clocks],
        status=r["status"], site=r["site"], place_label=r["place_label"],
        place_label_en=r["place_label_en"], lat=r["lat"], lon=r["lon"], origin=r["origin"],
        opened_at=utc(r["opened_at"]), updated_at=utc(r["updated_at"]),
        acknowledged_at=min(acks, default=None), dispatched_at=min(dispatches, default=None),
        resolved_at=utc(r["resolved_at"]), alert_count=r["alert_count"],
        report_count=r["report_count"], late_alert_count=r["late_alert_count"],
        opened_late=bool(r["opened_late"]), confidence=r["confidence"],
        unconfirmed=bool(r["unconfirmed"]),
        escalated=any(c.ack_escalated or c.resolve_escalated for c in clocks),
        reopen_count=r["reopen_count"], clocks=clocks,
    )


def visible(conn: Connection, incident_id: int, scope: frozenset[str] | None) -> bool:
    """Whether the incident exists and involves an agency of ``scope`` (now or in a past cycle)."""
    if scope is None:
        row = conn.execute("SELECT 1 FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    else:
        marks = ",".join("?" * len(scope)) or "NULL"
        row = conn.execute(
            f"SELECT 1 FROM incident_clocks WHERE incident_id = ? AND agency IN ({marks}) LIMIT 1",
            (incident_id, *sorted(scope)),
        ).fetchone()
    return row is not None


def load_incidents(conn: Connection, f: IncidentFilter) -> list[Incident]:
    where: list[str]
    if f.status == "active":  # every stage but resolved
        where, status = ["status != 'resolved'"], None
    else:
        where, status = [], f.status
    args: list[object] = []
    for clause, value in (("status = ?", status), ("hazard = ?", f.hazard),
                          ("level = ?", f.level), ("opened_at >= ?", f.start),
                          ("opened_at < ?", f.end)):
        if value is not None:
            where.append(clause)
            args.append(value)
    for agencies in ([f.agency] if f.agency is not None else None, f.scope):
        if agencies is not None:
            marks = ",".join("?" * len(agencies)) or "NULL"
            where.append("EXISTS (SELECT 1 FROM incident_clocks c WHERE c.incident_id ="
                         f" incidents.id AND c.agency IN ({marks}))")
            args.extend(sorted(agencies))
    sql = "SELECT * FROM incidents"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY opened_at DESC, id DESC LIMIT ? OFFSET ?"
    rows = conn.execute(sql, [*args, f.limit, f.offset]).fetchall()
    clocks = _clocks(conn, [r["id"] for r in rows])
    return [_incident(r, clocks[r["id"]]) for r in rows]


def load_incident(conn: Connection, incident_id: int) -> Incident | None:
    row = conn.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    if row is None:
        return None
    return _incident(row, _clocks(conn, [incident_id])[incident_id])


def load_detail(conn: Connection, incident_id: int) -> IncidentDetail | None:
    incident = load_incident(conn, incident_id)
    if incident is None:
        return None
    rows = conn.execute(
        "SELECT * FROM incident_timeline WHERE incident_id = ? ORDER BY ts, id", (incident_id,)
    ).fetchall()
    timeline = [
        TimelineEntry(id=r["id"], ts=utc(r["ts"]), recorded_at=utc(r["recorded_at"]),
                      kind=r["kind"], agency=r["agency"], actor=r["actor"], level=r["level"],
                      late=bool(r["late"]), note=r["note"], data=json.loads(r["data"]))
        for r in rows
    ]
    return IncidentDetail(**dict(incident), timeline=timeline)


def scorecard_clocks(conn: Connection, start: float, end: float) -> list[ClockFacts]:
    """Every clock (all cycles) that started in ``[start, end)``."""
    rows = conn.execute(
        "SELECT * FROM incident_clocks WHERE started_at >= ? AND started_at < ?", (start, end)
    ).fetchall()
    return [
        ClockFacts(agency=r["agency"], started_at=r["started_at"], ack_due_at=r["ack_due_at"],
                   resolve_due_at=r["resolve_due_at"], acknowledged_at=r["acknowledged_at"],
                   resolved_at=r["resolved_at"], auto_resolved=bool(r["auto_resolved"]),
                   escalated=bool(r["ack_escalated"] or r["resolve_escalated"]))
        for r in rows
    ]


def open_counts_by_level(conn: Connection) -> dict[int, int]:
    counts = {int(lv): 0 for lv in Level}
    for level, n in conn.execute(
        "SELECT level, COUNT(*) FROM incidents WHERE status != 'resolved' GROUP BY level"
    ):
        counts[int(level)] = int(n)
    return counts
