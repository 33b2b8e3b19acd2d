"""Gateway heartbeats and silences: when each gateway was last heard from, and the watchdog's
maintenance incident for one that fell silent (opened once per silence, closed when it speaks
again).

Like api/incidents/intake.py, each writing function opens its own ``transaction(conn)``,
except ``record_heartbeat``, a single upsert that needs no lock (see there).
"""

from __future__ import annotations

from dataclasses import dataclass

from siaga.api.db import Connection, transaction
from siaga.api.incidents.rules import Source
from siaga.api.incidents.settings import GATEWAY_SILENT, IncidentSettings
from siaga.api.incidents.store import (
    WATCHDOG_DETECTOR,
    Change,
    add_timeline,
    current_cycle,
    enqueue_notice,
    open_incident,
    refresh_evidence,
    refresh_status,
    set_source,
)
from siaga.firmware_bridge.vocabulary import Level

__all__ = [
    "HeartbeatSeen",
    "gateway_returned",
    "gateway_silenced",
    "last_heartbeats",
    "record_heartbeat",
    "silence_open",
    "silent_gateways",
]


@dataclass(frozen=True, slots=True)
class HeartbeatSeen:
    received_at: float  # when the hub last heard the gateway (POSIX s)
    buffer_depth: int | None  # entries waiting in its buffer, from that heartbeat


def last_heartbeats(conn: Connection) -> dict[str, HeartbeatSeen]:
    return {r["gateway"]: HeartbeatSeen(r["received_at"], r["buffer_depth"]) for r in
            conn.execute("SELECT gateway, received_at, buffer_depth FROM gateway_heartbeats")}


def record_heartbeat(conn: Connection, gateway: str, ts: float,
                     received_at: float, buffer_depth: int | None = None) -> None:
    # One statement, atomic by itself, outside the hub's write lock (``transaction``): a
    # province's thousand gateways send 33 heartbeats a second, and queued behind incident
    # writes on that one lock they held up every hub process's ingest (bench_province.py).
    # A watchdog that read the old time meanwhile may open a silence incident; the next
    # heartbeat closes it (``gateway_returned``).
    conn.execute(
        "INSERT INTO gateway_heartbeats (gateway, last_ts, received_at, buffer_depth)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (gateway) DO UPDATE SET"
        # Qualified: PostgreSQL finds a bare column ambiguous beside excluded.
        " last_ts = MAX(gateway_heartbeats.last_ts, excluded.last_ts),"
        " received_at = MAX(gateway_heartbeats.received_at, excluded.received_at),"
        " buffer_depth = CASE WHEN excluded.last_ts >= gateway_heartbeats.last_ts"
        " THEN excluded.buffer_depth ELSE gateway_heartbeats.buffer_depth END",
        (gateway, ts, received_at, buffer_depth),
    )


def silent_gateways(conn: Connection, now: float, window_s: float) -> list[str]:
    """Gateways heard from before, silent past the window, whose silence has no incident yet.

    One incident per silence: once staff resolve it, the watchdog waits until the gateway is
    heard from again (and falls silent again) before opening another.
    """
    rows = conn.execute(
        "SELECT h.gateway FROM gateway_heartbeats h WHERE h.received_at < ? AND NOT EXISTS ("
        " SELECT 1 FROM incidents i WHERE i.hazard = ? AND i.site = 'gateway:' || h.gateway"
        " AND (i.status != 'resolved' OR i.opened_at >= h.received_at)) ORDER BY h.gateway",
        (now - window_s, GATEWAY_SILENT),
    ).fetchall()
    return [r[0] for r in rows]


def gateway_silenced(conn: Connection, settings: IncidentSettings, gateway: str,
                     now: float) -> Change | None:
    """Open the maintenance incident for a silent gateway (once: the unique index holds)."""
    site = f"gateway:{gateway}"
    with transaction(conn):
        row = conn.execute(
            "SELECT received_at FROM gateway_heartbeats WHERE gateway = ?", (gateway,)
        ).fetchone()
        if row is None or row["received_at"] >= now - settings.gateway_silence_s:
            return None
        taken = conn.execute(
            "SELECT 1 FROM incidents WHERE hazard = ? AND site = ?"
            " AND (status != 'resolved' OR opened_at >= ?)",
            (GATEWAY_SILENT, site, row["received_at"]),
        ).fetchone()
        if taken:
            return None
        incident_id = open_incident(conn, settings, hazard=GATEWAY_SILENT, site=site, at=now,
                                    origin="watchdog", lat=None, lon=None)
        text = f"no heartbeat from {gateway} for {now - row['received_at']:.0f} s"
        add_timeline(conn, incident_id, ts=now, recorded_at=now, kind="gateway", note=text,
                     data={"gateway": gateway, "last_heartbeat": row["received_at"]})
        set_source(conn, settings, incident_id,
                   Source(WATCHDOG_DETECTOR, site, settings.maintenance_level, now),
                   recorded_at=now)
        refresh_evidence(conn, settings, incident_id)
        change = Change("incident.opened", incident_id, now, text)
        enqueue_notice(conn, change)
    return change


def silence_open(conn: Connection, gateway: str) -> bool:
    """Whether a maintenance incident for ``gateway`` is open (a read, no transaction)."""
    return conn.execute(
        "SELECT 1 FROM incidents WHERE hazard = ? AND site = ? AND status != 'resolved'",
        (GATEWAY_SILENT, f"gateway:{gateway}"),
    ).fetchone() is not None


def gateway_returned(conn: Connection, settings: IncidentSettings, gateway: str,
                     now: float) -> Change | None:
    """A silent gateway spoke again: note it and close the clocks nobody acted on.

    Agencies that had acknowledged keep their clocks open (someone may be on the road to
    the gateway); the incident resolves only when they resolve too.
    """
    site = f"gateway:{gateway}"
    with transaction(conn):
        row = conn.execute(
            "SELECT id FROM incidents WHERE hazard = ? AND site = ? AND status != 'resolved'",
            (GATEWAY_SILENT, site),
        ).fetchone()
        if row is None:
            return None
        incident_id = row["id"]
        add_timeline(conn, incident_id, ts=now, recorded_at=now, kind="gateway",
                     note=f"{gateway} is sending heartbeats again", data={"gateway": gateway})
        set_source(conn, settings, incident_id,
                   Source(WATCHDOG_DETECTOR, site, int(Level.NORMAL), now), recorded_at=now)
        conn.execute(
            "UPDATE incident_clocks SET stage = 'resolved', resolved_at = ?, resolved_by ="
            " 'system', auto_resolved = 1 WHERE incident_id = ? AND cycle = ? AND stage = 'open'",
            (now, incident_id, current_cycle(conn, incident_id)),
        )
        status = refresh_status(conn, incident_id, at=now)
        kind = "incident.resolved" if status == "resolved" else "incident.updated"
        change = Change(kind, incident_id, now, f"{gateway} is back")
        enqueue_notice(conn, change)
    return change
