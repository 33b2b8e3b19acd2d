"""The incident tables in the hub's SQLite database.

Times are POSIX seconds (REAL, UTC), except ``incident_alerts_seen.ts`` which keeps the
alert's wire time in integer milliseconds because it is part of the alert's identity.

The rule "one hazard at one site is one open incident" is the partial UNIQUE index
``incidents_one_open``: it holds across threads and processes sharing the file, whatever
the code above it does. Each agency's clock is a row of ``incident_clocks`` per cycle
(a reopened incident starts a new cycle; old cycles stay for the report card).

``incident_reports`` holds every citizen report with its ``status``: ``triage`` (waiting for a
duty officer of one of its ``agencies``), ``joined`` (an open incident near it), ``confirmed``
(opened an incident with other independent reports), ``verified`` or ``rejected`` (a duty
officer's decision). ``address_key`` is a hash of the client address and ``reporter_key`` the
normalised contact: what independence is judged on (api/incidents/corroboration.py). An
incident at a place that is no registry site has a ``geo:`` key as ``site`` and its name in
``place_label`` / ``place_label_en`` (api/incidents/place.py). These columns came with schema
version 2 (api/migrations.py), which also adds the triage index.

``incident_outbox`` is the notification outbox: one row per incident change, written in the
same transaction as the change itself, so a change is never committed without its row (nor a
row without its change); a row with ``report_id`` instead of ``incident_id`` tells of a citizen
report that entered triage (schema version 3 made ``incident_id`` nullable). The notifier
(:mod:`api.notify`) turns rows into deliveries and stamps ``planned_at``.
``incident_escalation_rungs`` records each rung of an agency's escalation chain that was
told, once per clock cycle. ``cap_messages`` is the CAP log
(api/incidents/cap_log.py): one row per message, written in the transaction of its change,
never changed afterwards.
"""

from __future__ import annotations

from siaga.api.db import Connection

__all__ = ["ensure_schema"]

_DDL = """
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hazard TEXT NOT NULL,
    site TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'acknowledged', 'dispatched', 'resolved')),
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 4),
    max_level INTEGER NOT NULL CHECK (max_level BETWEEN 1 AND 4),
    agency TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('alert', 'report', 'watchdog')),
    lat REAL,
    lon REAL,
    opened_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    resolved_at REAL,
    alert_count INTEGER NOT NULL DEFAULT 0,
    report_count INTEGER NOT NULL DEFAULT 0,
    late_alert_count INTEGER NOT NULL DEFAULT 0,
    opened_late INTEGER NOT NULL DEFAULT 0,
    confidence REAL NOT NULL DEFAULT 0,
    unconfirmed INTEGER NOT NULL DEFAULT 0,
    reopen_count INTEGER NOT NULL DEFAULT 0,
    place_label TEXT,
    place_label_en TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_open
    ON incidents (hazard, site) WHERE status != 'resolved';
CREATE INDEX IF NOT EXISTS incidents_by_key ON incidents (hazard, site, resolved_at);
CREATE INDEX IF NOT EXISTS incidents_by_opened ON incidents (opened_at);

CREATE TABLE IF NOT EXISTS incident_clocks (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    cycle INTEGER NOT NULL,
    agency TEXT NOT NULL,
    position INTEGER NOT NULL,
    stage TEXT NOT NULL DEFAULT 'open',
    started_at REAL NOT NULL,
    ack_due_at REAL,
    resolve_due_at REAL,
    acknowledged_at REAL,
    acknowledged_by TEXT,
    dispatched_at REAL,
    dispatched_by TEXT,
    resolved_at REAL,
    resolved_by TEXT,
    auto_resolved INTEGER NOT NULL DEFAULT 0,
    ack_escalated INTEGER NOT NULL DEFAULT 0,
    resolve_escalated INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (incident_id, cycle, agency)
);
CREATE INDEX IF NOT EXISTS incident_clocks_by_agency ON incident_clocks (agency, started_at);
CREATE INDEX IF NOT EXISTS incident_clocks_pending ON incident_clocks (stage, ack_due_at);

CREATE TABLE IF NOT EXISTS incident_sources (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    detector TEXT NOT NULL,
    node TEXT NOT NULL,
    level INTEGER NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (incident_id, detector, node)
);

CREATE TABLE IF NOT EXISTS incident_timeline (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    ts REAL NOT NULL,
    recorded_at REAL NOT NULL,
    kind TEXT NOT NULL,
    agency TEXT,
    actor TEXT,
    level INTEGER,
    late INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS incident_timeline_by_incident ON incident_timeline (incident_id, ts);

CREATE TABLE IF NOT EXISTS incident_alerts_seen (
    gateway TEXT NOT NULL,
    node TEXT NOT NULL,
    detector TEXT NOT NULL,
    ts INTEGER NOT NULL,
    level INTEGER NOT NULL,
    incident_id INTEGER REFERENCES incidents (id),
    received_at REAL NOT NULL,
    PRIMARY KEY (gateway, node, detector, ts, level)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS incident_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    hazard TEXT NOT NULL,
    text TEXT NOT NULL,
    contact TEXT,
    incident_id INTEGER REFERENCES incidents (id),
    distance_m REAL,
    status TEXT NOT NULL DEFAULT 'joined',
    agencies TEXT NOT NULL DEFAULT '[]',
    place_site TEXT,
    place_label TEXT NOT NULL DEFAULT '',
    place_label_en TEXT NOT NULL DEFAULT '',
    address_key TEXT NOT NULL DEFAULT '',
    reporter_key TEXT NOT NULL DEFAULT '',
    decided_at REAL,
    decided_by TEXT,
    decision_note TEXT
);

CREATE TABLE IF NOT EXISTS incident_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER REFERENCES incidents (id),
    report_id INTEGER REFERENCES incident_reports (id),
    type TEXT NOT NULL,
    ts REAL NOT NULL,
    level INTEGER NOT NULL,
    status TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '{}',
    planned_at REAL,
    CHECK (incident_id IS NOT NULL OR report_id IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS incident_outbox_unplanned ON incident_outbox (id)
    WHERE planned_at IS NULL;

CREATE TABLE IF NOT EXISTS incident_escalation_rungs (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    cycle INTEGER NOT NULL,
    agency TEXT NOT NULL,
    rung INTEGER NOT NULL,
    position TEXT NOT NULL,
    due REAL NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (incident_id, cycle, agency, rung)
);

CREATE TABLE IF NOT EXISTS cap_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier TEXT NOT NULL UNIQUE,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    seq INTEGER NOT NULL,
    msg_type TEXT NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
    level INTEGER NOT NULL,
    hazard TEXT NOT NULL,
    sent REAL NOT NULL,
    incident TEXT NOT NULL,  -- the incident as it stood (JSON of models.Incident)
    UNIQUE (incident_id, seq)
);
CREATE INDEX IF NOT EXISTS cap_messages_by_sent ON cap_messages (sent);

CREATE TABLE IF NOT EXISTS gateway_heartbeats (
    gateway TEXT PRIMARY KEY,
    last_ts REAL NOT NULL,
    received_at REAL NOT NULL,
    buffer_depth INTEGER  -- entries waiting in the gateway's buffer, from its last heartbeat
);
"""


def ensure_schema(conn: Connection) -> None:
    conn.executescript(_DDL)
