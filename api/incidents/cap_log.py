"""The CAP log: each incident's CAP messages, recorded once and served unchanged.

:func:`record_cap_message` runs inside the transaction that changed the incident (it is
called with every outbox row, :func:`api.incidents.store.enqueue_notice`), so a message
exists exactly when its change was committed; its identifier, time and content never change
afterwards. Rendering (sender, language, area) happens when a message is served
(:mod:`api.incidents.cap`).
"""

from __future__ import annotations

from collections.abc import Collection

from siaga.api.db import Connection, Row
from siaga.api.incidents.cap import CapMessage, CapRef, message_identifier, next_msg_type
from siaga.api.incidents.models import Incident, utc
from siaga.api.incidents.queries import load_incident

__all__ = ["current_messages", "incident_messages", "load_message", "record_cap_message"]


def record_cap_message(conn: Connection, incident_id: int, at: float) -> str | None:
    """Record the message the incident's present state calls for; its identifier or None
    (also None while the incident is unconfirmed: opened by citizen reports alone)."""
    incident = load_incident(conn, incident_id)
    # Citizen reports no sensor or staff has confirmed are not a public warning.
    if incident is None or incident.unconfirmed:
        return None
    last = conn.execute(
        "SELECT seq, msg_type, level FROM cap_messages WHERE incident_id = ?"
        " ORDER BY seq DESC LIMIT 1", (incident_id,)).fetchone()
    msg_type = next_msg_type(None if last is None else (last["msg_type"], last["level"]),
                             level=incident.level, resolved=incident.status == "resolved")
    if msg_type is None:
        return None
    seq = 0 if last is None else int(last["seq"]) + 1
    identifier = message_identifier(incident_id, seq)
    conn.execute(
        "INSERT INTO cap_messages (identifier, incident_id, seq, msg_type, level, hazard, sent,"
        " incident) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (identifier, incident_id, seq, msg_type, incident.level, incident.hazard, at,
         incident.model_dump_json()),
    )
    return identifier


def _message(conn: Connection, row: Row) -> CapMessage:
    """A row as a message, with the references of its cycle (Alert to now)."""
    refs: tuple[CapRef, ...] = ()
    if row["msg_type"] != "Alert":
        earlier = conn.execute(
            "SELECT identifier, msg_type, sent FROM cap_messages WHERE incident_id = ?"
            " AND seq < ? ORDER BY seq DESC", (row["incident_id"], row["seq"])).fetchall()
        chain: list[CapRef] = []
        for e in earlier:
            chain.append(CapRef(e["identifier"], utc(e["sent"])))
            if e["msg_type"] == "Alert":
                break
        refs = tuple(reversed(chain))
    return CapMessage(identifier=row["identifier"], msg_type=row["msg_type"],
                      sent=utc(row["sent"]),
                      incident=Incident.model_validate_json(row["incident"]),
                      references=refs)


def load_message(conn: Connection, identifier: str) -> CapMessage | None:
    row = conn.execute("SELECT * FROM cap_messages WHERE identifier = ?",
                       (identifier,)).fetchone()
    return None if row is None else _message(conn, row)


def incident_messages(conn: Connection, incident_id: int) -> list[CapMessage]:
    """Every message of one incident, oldest first."""
    rows = conn.execute("SELECT * FROM cap_messages WHERE incident_id = ? ORDER BY seq",
                        (incident_id,)).fetchall()
    return [_message(conn, r) for r in rows]


def current_messages(conn: Connection, *, hazards: Collection[str], min_level: int,
                     cancelled_since: float) -> list[CapMessage]:
    """The feed: each incident's latest message, for incidents of ``hazards`` that reached
    ``min_level``; a Cancel only while it is newer than ``cancelled_since``. Newest first."""
    marks = ",".join("?" * len(hazards))
    rows = conn.execute(
        f"SELECT m.* FROM cap_messages m WHERE m.hazard IN ({marks})"
        " AND m.seq = (SELECT MAX(seq) FROM cap_messages WHERE incident_id = m.incident_id)"
        " AND (m.msg_type != 'Cancel' OR m.sent >= ?)"
        " AND (SELECT MAX(level) FROM cap_messages WHERE incident_id = m.incident_id) >= ?"
        " ORDER BY m.sent DESC, m.id DESC",
        (*hazards, cancelled_since, min_level),
    ).fetchall()
    return [_message(conn, r) for r in rows]
