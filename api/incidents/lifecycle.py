"""Staff steps on an incident (ack, dispatch, resolve) and the SLA clock's escalations.

Who may act for which agency is decided here, so the routes only pass the caller through:

- a responder acts for their own agency, and only on incidents that involve it (others are
  404, as in every read, unless their agency sees every incident: then 403);
- an admin acts for the agency named in the request, else their own if involved, else the
  primary agency; an admin's resolve without an agency resolves every agency's clock (the
  incident is closed);
- a viewer never acts.
"""

from __future__ import annotations

from dataclasses import dataclass

from siaga.api.db import Connection, Row, transaction
from siaga.api.incidents.errors import IncidentNotFound, NotInvolved, TransitionError
from siaga.api.incidents.rules import ACTION_STAGE, StaffAction, advance
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.incidents.store import (
    Change,
    add_timeline,
    current_cycle,
    enqueue_notice,
    refresh_status,
)
from siaga.api.incidents.timeline_text import deadline_missed, rung_told

__all__ = ["Actor", "act", "add_note", "climb_chains", "escalate_overdue"]

# The clock's columns are named after the stages: acknowledged_at, dispatched_by, ...
_KIND = {stage: action for action, stage in ACTION_STAGE.items()}


@dataclass(frozen=True, slots=True)
class Actor:
    """The staff member acting (from ``CurrentStaff``)."""

    username: str
    agency: str
    role: str  # "viewer" | "responder" | "admin"
    sees_all: bool = False


def _clock_agencies(conn: Connection, incident_id: int, cycle: int) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT agency FROM incident_clocks WHERE incident_id = ? AND cycle = ? ORDER BY position",
        (incident_id, cycle),
    )]


def _targets(actor: Actor, involved: list[str], action: StaffAction,
             agency: str | None) -> list[str]:
    if actor.role == "admin":
        if agency is not None:
            if agency not in involved:
                raise NotInvolved(f"{agency} is not involved in this incident", agency=agency)
            return [agency]
        if action == "resolve":
            return involved
        return [actor.agency] if actor.agency in involved else involved[:1]
    if actor.role != "responder":
        raise NotInvolved(f"role {actor.role!r} cannot {action} incidents")
    if agency is not None and agency != actor.agency:
        raise NotInvolved(f"a responder acts only for their own agency ({actor.agency})")
    return [actor.agency]


def act(conn: Connection, incident_id: int, action: StaffAction, actor: Actor,
        note: str | None, now: float, agency: str | None = None) -> Change:
    """Move the chosen agencies' clocks forward (see the module docstring for who may)."""
    with transaction(conn):
        if conn.execute("SELECT 1 FROM incidents WHERE id = ?", (incident_id,)).fetchone() is None:
            raise IncidentNotFound(f"no incident {incident_id}", incident=incident_id)
        cycle = current_cycle(conn, incident_id)
        involved = _clock_agencies(conn, incident_id, cycle)
        if actor.role != "admin" and actor.agency not in involved:
            if actor.sees_all:
                raise NotInvolved(f"{actor.agency} is not involved in incident {incident_id}",
                                  agency=actor.agency)
            raise IncidentNotFound(f"no incident {incident_id}", incident=incident_id)
        moved = 0
        targets = _targets(actor, involved, action, agency)
        for target in targets:
            stage = conn.execute(
                "SELECT stage FROM incident_clocks WHERE incident_id = ? AND cycle = ?"
                " AND agency = ?", (incident_id, cycle, target),
            ).fetchone()[0]
            if action == "resolve" and stage == "resolved" and agency is None \
                    and actor.role == "admin":
                continue  # closing the incident: agencies already done stay as they were
            moved += 1
            for step in advance(stage, action):
                conn.execute(
                    f"UPDATE incident_clocks SET stage = ?, {step}_at = ?, {step}_by = ?"
                    " WHERE incident_id = ? AND cycle = ? AND agency = ?",
                    (step, now, actor.username, incident_id, cycle, target),
                )
                implied = step != ACTION_STAGE[action]
                add_timeline(conn, incident_id, ts=now, recorded_at=now, kind=_KIND[step],
                             agency=target, actor=actor.username,
                             note=None if implied else note,
                             data={"implied_by": action} if implied else {})
        if not moved:
            raise TransitionError(f"incident {incident_id} is already resolved")
        if action in ("ack", "resolve"):
            conn.execute("UPDATE incidents SET unconfirmed = 0 WHERE id = ?", (incident_id,))
        refresh_status(conn, incident_id, at=now)
        change = Change(f"incident.{ACTION_STAGE[action]}", incident_id, now,
                        f"{action} by {actor.username}")
        enqueue_notice(conn, change, {"agencies": targets})
    return change


def add_note(conn: Connection, incident_id: int, actor: Actor, note: str,
             now: float) -> Change:
    """A staff note in the timeline, state unchanged: anyone who may see the incident, except
    viewers (who only read)."""
    with transaction(conn):
        if conn.execute("SELECT 1 FROM incidents WHERE id = ?", (incident_id,)).fetchone() is None:
            raise IncidentNotFound(f"no incident {incident_id}", incident=incident_id)
        involved = _clock_agencies(conn, incident_id, current_cycle(conn, incident_id))
        if actor.role != "admin" and not actor.sees_all and actor.agency not in involved:
            raise IncidentNotFound(f"no incident {incident_id}", incident=incident_id)
        if actor.role not in ("admin", "responder"):
            raise NotInvolved(f"role {actor.role!r} cannot add notes")
        add_timeline(conn, incident_id, ts=now, recorded_at=now, kind="note",
                     agency=actor.agency, actor=actor.username, note=note)
        conn.execute("UPDATE incidents SET updated_at = ? WHERE id = ?", (now, incident_id))
    return Change("incident.updated", incident_id, now, f"note by {actor.username}")


def escalate_overdue(conn: Connection, now: float,
                     settings: IncidentSettings | None = None) -> list[Change]:
    """Flag every clock whose ack or resolve deadline passed undone, once per deadline.

    Each escalation is a timeline entry and a change for the stream; the flag is what counts
    against the agency on the report card. With ``settings``, a missed ack deadline is also
    rung 1 of the agency's escalation chain (told through the notification outbox; see
    :func:`climb_chains` for the rungs after it), and a missed resolve deadline goes to the
    outbox too.
    """
    changes: list[Change] = []
    with transaction(conn):
        for kind, due, done in (("ack", "ack_due_at", "acknowledged_at"),
                                ("resolve", "resolve_due_at", "resolved_at")):
            rows = conn.execute(
                f"SELECT c.incident_id, c.cycle, c.agency, c.{due} AS due FROM incident_clocks c"
                " JOIN incidents i ON i.id = c.incident_id AND i.reopen_count = c.cycle"
                f" WHERE c.{due} IS NOT NULL AND c.{due} <= ? AND c.{done} IS NULL"
                " AND c.stage != 'resolved'"
                f" AND c.{kind}_escalated = 0",
                (now,),
            ).fetchall()
            for r in rows:
                conn.execute(
                    f"UPDATE incident_clocks SET {kind}_escalated = 1 WHERE incident_id = ?"
                    " AND cycle = ? AND agency = ?",
                    (r["incident_id"], r["cycle"], r["agency"]),
                )
                data: dict[str, object] = {"deadline": kind, "due": r["due"]}
                chain = settings.chain_for(r["agency"]) if settings is not None else []
                told = chain[1] if kind == "ack" and len(chain) > 1 else None
                if told is not None:
                    data.update(rung=1, position=told)
                    _record_rung(conn, r, 1, told, r["due"], now)
                text, data["note_en"] = deadline_missed(r["agency"], kind, told)
                add_timeline(conn, r["incident_id"], ts=r["due"], recorded_at=now,
                             kind="escalation", agency=r["agency"], note=text, data=data)
                change = Change("incident.escalated", r["incident_id"], now, text)
                if settings is not None:
                    enqueue_notice(conn, change, {"agency": r["agency"], **data})
                changes.append(change)
    return changes


def _record_rung(conn: Connection, r: Row, rung: int, position: str,
                 due: float, now: float) -> None:
    conn.execute(
        "INSERT INTO incident_escalation_rungs (incident_id, cycle, agency, rung, position,"
        " due, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (r["incident_id"], r["cycle"], r["agency"], rung, position, due, now),
    )


def climb_chains(conn: Connection, settings: IncidentSettings,
                 now: float) -> list[Change]:
    """Tell the next rung of each agency's escalation chain whose time has come.

    Rung 0 is told when the incident opens (the notification rules); rung 1 at the missed
    ack deadline (:func:`escalate_overdue`); rung k > 1 ``escalation_every_min`` after rung
    k - 1; until the agency acknowledges (which stops the chain) or the chain ends. Each rung
    is a timeline entry, an outbox row and a change for the stream, recorded once per clock
    cycle. One rung per clock per pass: a hub that was down tells the next person, not the
    whole chain at once.
    """
    every_s = settings.escalation_every_min * 60
    changes: list[Change] = []
    with transaction(conn):
        rows = conn.execute(
            "SELECT c.incident_id, c.cycle, c.agency, c.ack_due_at AS due, e.told"
            " FROM incident_clocks c"
            " JOIN incidents i ON i.id = c.incident_id AND i.reopen_count = c.cycle"
            " JOIN (SELECT incident_id, cycle, agency, MAX(rung) AS told"
            "       FROM incident_escalation_rungs GROUP BY incident_id, cycle, agency) e"
            "  ON e.incident_id = c.incident_id AND e.cycle = c.cycle AND e.agency = c.agency"
            " WHERE c.ack_due_at IS NOT NULL AND c.acknowledged_at IS NULL"
            " AND c.stage = 'open'",
        ).fetchall()
        for r in rows:
            chain = settings.chain_for(r["agency"])
            rung = r["told"] + 1
            rung_due = r["due"] + (rung - 1) * every_s
            if rung >= len(chain) or rung_due > now:
                continue
            position = chain[rung]
            _record_rung(conn, r, rung, position, rung_due, now)
            text, text_en = rung_told(r["agency"], position)
            data = {"deadline": "ack", "rung": rung, "position": position, "note_en": text_en}
            add_timeline(conn, r["incident_id"], ts=rung_due, recorded_at=now,
                         kind="escalation", agency=r["agency"], note=text, data=data)
            change = Change("incident.escalated", r["incident_id"], now, text)
            enqueue_notice(conn, change, {"agency": r["agency"], **data})
            changes.append(change)
    return changes
