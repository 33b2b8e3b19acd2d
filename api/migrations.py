"""The hub database's schema: created and upgraded in one place (``siaga-hub migrate``).

Two kinds of change, two mechanisms:

- **A new table or index** goes into its module's ``ensure_schema`` (``CREATE ... IF NOT
  EXISTS``); :func:`migrate` runs every module's on each call, so a new release's tables
  appear in an old database.
- **A change to an existing table** (a column, a constraint, a rewrite of data) is a numbered
  :class:`Migration` appended to :data:`MIGRATIONS`, never edited once released. The number
  reached is kept in the database: ``PRAGMA user_version`` on SQLite, the table
  ``siaga_schema_version`` on PostgreSQL. A database whose number is higher than this
  release knows is refused (a newer hub wrote it).

:func:`migrate` runs under the write lock (``BEGIN IMMEDIATE``; on PostgreSQL the advisory
lock, with transactional DDL), so hub processes starting together upgrade once between them.
The hub runs it at every start; ``siaga-hub migrate`` runs it alone, for an upgrade done
before the new processes start.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from siaga.api import accounts, audit, gateway_tokens, live_journal, login_guard, registry, throttle
from siaga.api.db import Connection, Database, Dialect, transaction
from siaga.api.errors import HubError
from siaga.api.incidents import schema as incident_schema
from siaga.api.incidents.place import SitePoint, name_place, place_key
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.notify import outbox

__all__ = ["MIGRATIONS", "Migration", "MigrationResult", "migrate", "schema_version"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection, Dialect], None]


@dataclass(frozen=True, slots=True)
class MigrationResult:
    before: int
    after: int
    applied: tuple[str, ...]


def _columns(conn: Connection, dialect: Dialect, table: str) -> set[str]:
    if dialect == "sqlite":
        return {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
    return {r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ?", (table,))}


def _staff_disabled(conn: Connection, dialect: Dialect) -> None:
    # Release 0.1 databases made before accounts could be disabled lack the column.
    if "disabled" not in _columns(conn, dialect, "staff"):
        conn.execute("ALTER TABLE staff ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0")


_REPORT_COLUMNS = {
    "incidents": ("place_label TEXT", "place_label_en TEXT"),
    "incident_reports": (
        "status TEXT NOT NULL DEFAULT 'joined'", "agencies TEXT NOT NULL DEFAULT '[]'",
        "place_site TEXT", "place_label TEXT NOT NULL DEFAULT ''",
        "place_label_en TEXT NOT NULL DEFAULT ''", "address_key TEXT NOT NULL DEFAULT ''",
        "reporter_key TEXT NOT NULL DEFAULT ''", "decided_at REAL", "decided_by TEXT",
        "decision_note TEXT"),
}


def _registry_sites(conn: Connection) -> list[SitePoint]:
    out = []
    for r in conn.execute("SELECT id, body FROM registry_entries WHERE kind = 'site'"
                          " AND deleted = 0 AND body IS NOT NULL"):
        body = json.loads(r["body"])
        out.append(SitePoint(r["id"], body.get("name") or r["id"], body["lat"], body["lon"]))
    return out


def _report_triage_and_places(conn: Connection, dialect: Dialect) -> None:
    # Reports wait in triage (status, agencies, sender keys); a place that is no registry
    # site is named in words. Incidents keyed `report:<id>` get a `geo:` key and a label.
    for table, columns in _REPORT_COLUMNS.items():
        have = _columns(conn, dialect, table)
        for column in columns:
            if column.split()[0] not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
    conn.execute("CREATE INDEX IF NOT EXISTS incident_reports_waiting"
                 " ON incident_reports (status, hazard, received_at)")
    sites = _registry_sites(conn)
    radius = IncidentSettings().report_place_radius_m
    rows = conn.execute("SELECT id, hazard, lat, lon, status FROM incidents"
                        " WHERE site LIKE 'report:%' ORDER BY id").fetchall()
    for r in rows:
        place = name_place(r["lat"], r["lon"], sites, radius)
        key = place_key(r["lat"], r["lon"])
        taken = conn.execute("SELECT 1 FROM incidents WHERE hazard = ? AND site = ?"
                             " AND status != 'resolved'", (r["hazard"], key)).fetchone()
        if taken is not None and r["status"] != "resolved":
            key = f"{key}#{r['id']}"  # two open at one spot (opened > report_window_s apart)
        conn.execute("UPDATE incidents SET site = ?, place_label = ?, place_label_en = ?"
                     " WHERE id = ?", (key, place.label, place.label_en, r["id"]))
    for r in conn.execute("SELECT id, lat, lon FROM incident_reports"
                          " WHERE place_label = ''").fetchall():
        place = name_place(r["lat"], r["lon"], sites, radius)
        conn.execute("UPDATE incident_reports SET place_site = ?, place_label = ?,"
                     " place_label_en = ? WHERE id = ?",
                     (place.site, place.label, place.label_en, r["id"]))


# The two outbox tables as version 3 left them (frozen here: module DDL may move on).
_OUTBOX_V3 = """CREATE TABLE incident_outbox_v3 (
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
)"""
_DELIVERIES_V3 = """CREATE TABLE notify_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id INTEGER NOT NULL REFERENCES incident_outbox (id),
    incident_id INTEGER REFERENCES incidents (id),
    report_id INTEGER REFERENCES incident_reports (id),
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    address TEXT NOT NULL,
    level INTEGER NOT NULL,
    payload TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
        ('pending', 'sending', 'sent', 'delivered', 'failed', 'superseded')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    lease_until REAL,
    created_at REAL NOT NULL,
    sent_at REAL,
    provider_id TEXT,
    error TEXT
)"""
_INDEXES_V3 = (
    "CREATE INDEX IF NOT EXISTS incident_outbox_unplanned ON incident_outbox (id)"
    " WHERE planned_at IS NULL",
    "CREATE INDEX IF NOT EXISTS notify_deliveries_due"
    " ON notify_deliveries (channel, status, not_before)",
    "CREATE INDEX IF NOT EXISTS notify_deliveries_by_incident"
    " ON notify_deliveries (incident_id, channel, address, status)",
    "CREATE INDEX IF NOT EXISTS notify_deliveries_by_provider"
    " ON notify_deliveries (channel, provider_id)",
)
_DELIVERY_COLUMNS = ("id, outbox_id, incident_id, channel, recipient, address, level, payload,"
                     " key, status, attempts, not_before, lease_until, created_at, sent_at,"
                     " provider_id, error")


def _outbox_about_reports(conn: Connection, dialect: Dialect) -> None:
    # A citizen report waiting in triage is told through the outbox too, before any incident
    # exists: outbox rows and deliveries name an incident or a report.
    if all("report_id" in _columns(conn, dialect, t)
           for t in ("incident_outbox", "notify_deliveries")):
        return  # created by this release's DDL
    if dialect == "postgresql":
        for table in ("incident_outbox", "notify_deliveries"):
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN incident_id DROP NOT NULL")
            conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS report_id INTEGER"
                         " REFERENCES incident_reports (id)")
        conn.execute("ALTER TABLE incident_outbox ADD CONSTRAINT incident_outbox_about"
                     " CHECK (incident_id IS NOT NULL OR report_id IS NOT NULL)")
        return
    # SQLite cannot drop a NOT NULL: rebuild both tables (deliveries, the child, around the
    # outbox), keeping ids and the AUTOINCREMENT counters, since idempotency keys are made
    # of outbox ids and must never repeat.
    seqs = {r[0]: r[1] for r in conn.execute(
        "SELECT name, seq FROM sqlite_sequence"
        " WHERE name IN ('incident_outbox', 'notify_deliveries')")}
    conn.execute("CREATE TEMP TABLE migrate_deliveries AS SELECT * FROM notify_deliveries")
    conn.execute("DROP TABLE notify_deliveries")
    conn.execute(_OUTBOX_V3)
    conn.execute("INSERT INTO incident_outbox_v3 (id, incident_id, type, ts, level, status,"
                 " text, data, planned_at) SELECT id, incident_id, type, ts, level, status,"
                 " text, data, planned_at FROM incident_outbox")
    conn.execute("DROP TABLE incident_outbox")
    conn.execute("ALTER TABLE incident_outbox_v3 RENAME TO incident_outbox")
    conn.execute(_DELIVERIES_V3)
    conn.execute(f"INSERT INTO notify_deliveries ({_DELIVERY_COLUMNS})"
                 f" SELECT {_DELIVERY_COLUMNS} FROM temp.migrate_deliveries")
    conn.execute("DROP TABLE temp.migrate_deliveries")
    for index in _INDEXES_V3:
        conn.execute(index)
    for name, seq in seqs.items():
        conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", (seq, name))
        conn.execute("INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? WHERE NOT EXISTS"
                     " (SELECT 1 FROM sqlite_sequence WHERE name = ?)", (name, seq, name))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "staff.disabled: a disabled account cannot sign in", _staff_disabled),
    Migration(2, "citizen reports: triage, place names instead of report:<id>",
              _report_triage_and_places),
    Migration(3, "notify outbox: a delivery may be about a citizen report in triage",
              _outbox_about_reports),
)

_ENSURE: tuple[Callable[[Connection], None], ...] = (
    registry.ensure_schema, accounts.ensure_schema, gateway_tokens.ensure_schema,
    audit.ensure_schema, incident_schema.ensure_schema, outbox.ensure_schema,
    live_journal.ensure_schema, throttle.ensure_schema, login_guard.ensure_schema,
)


def schema_version(conn: Connection, dialect: Dialect) -> int:
    if dialect == "sqlite":
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    conn.execute("CREATE TABLE IF NOT EXISTS siaga_schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM siaga_schema_version").fetchone()
    return 0 if row is None else int(row[0])


def _set_version(conn: Connection, dialect: Dialect, version: int) -> None:
    if dialect == "sqlite":
        conn.execute(f"PRAGMA user_version = {int(version)}")
        return
    conn.execute("DELETE FROM siaga_schema_version")
    conn.execute("INSERT INTO siaga_schema_version (version) VALUES (?)", (version,))


def _upgrade(conn: Connection, dialect: Dialect, where: str) -> MigrationResult:
    before = schema_version(conn, dialect)
    latest = MIGRATIONS[-1].version if MIGRATIONS else 0
    if before > latest:
        raise HubError(f"the database {where} has schema version {before}, newer than this "
                       f"hub knows ({latest}): run the newer release, or restore a backup")
    pending = [m for m in MIGRATIONS if m.version > before]
    for m in pending:
        m.apply(conn, dialect)
    if pending:
        _set_version(conn, dialect, latest)
    return MigrationResult(before, max(before, latest), tuple(m.name for m in pending))


def migrate(db: Database) -> MigrationResult:
    """Create missing tables, then apply the numbered migrations this database lacks."""

    def run(conn: Connection) -> MigrationResult:
        if db.dialect == "sqlite":
            # executescript commits whatever is open: the idempotent CREATEs go first, alone.
            for ensure in _ENSURE:
                ensure(conn)
            with transaction(conn):
                return _upgrade(conn, db.dialect, db.where)
        with transaction(conn):
            for ensure in _ENSURE:
                ensure(conn)
            return _upgrade(conn, db.dialect, db.where)

    return db.call(run)
