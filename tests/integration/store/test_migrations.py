"""``siaga-hub migrate``: a database made by the previous release, with data in it, upgraded.

``release_0_1_hub.sql`` is the dump of a hub database made by main at b82d3cd (the release
before numbered migrations) with its own code: an account, a site, a gateway token, an
incident from an alert, a heartbeat and an audit entry.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from siaga.api.accounts import Accounts
from siaga.api.audit import AuditLog
from siaga.api.db import INTEGRITY_ERRORS, Database, transaction
from siaga.api.db_postgres import PostgresDatabase
from siaga.api.incidents.intake import AlertFacts, record_alerts
from siaga.api.incidents.place import PlaceName
from siaga.api.incidents.queries import IncidentFilter, load_incidents
from siaga.api.incidents.reports import ReportFacts, record_report
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.migrations import MIGRATIONS, migrate
from siaga.api.registry import Registry
from siaga.api.services import open_database
from siaga.api.settings import load_settings
from siaga.firmware_bridge.uplink import UplinkAlert
from siaga.simulators.servers import PostgreSQL

pytestmark = pytest.mark.integration

DUMP = Path(__file__).with_name("release_0_1_hub.sql")
LATEST = MIGRATIONS[-1].version
HUB = str(Path(sys.executable).parent / "siaga-hub")


def _old_database(tmp_path: Path) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(f'[database]\npath = "{tmp_path}/hub.sqlite3"\n')
    conn = sqlite3.connect(tmp_path / "hub.sqlite3")
    conn.executescript(DUMP.read_text())
    conn.close()
    return config


def _migrate(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HUB, "migrate", "--config", str(config)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def _version(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _data_intact(config: Path) -> None:
    """The dump's data reads back (incidents a test added beside it ignored)."""
    settings = load_settings(config)
    db = open_database(settings)
    try:
        staff = asyncio.run(Accounts(db, settings.auth, settings.agencies)
                            .authenticate("sari", "correct horse battery"))
        assert (staff.agency, staff.role.value, staff.disabled) == ("BPBD", "responder", False)
        incidents = db.call(lambda c: load_incidents(c, IncidentFilter()))
        incidents = [i for i in incidents if i.id == 1]
        assert [(i.hazard, i.site, i.level, i.alert_count) for i in incidents] == [
            ("landslide", "bumiaji-slope", 3, 1)]
        registry = Registry(db)
        registry.load(None)
        site = registry.site("bumiaji-slope")
        assert site is not None and site.name == "Bumiaji slope"
        entries = asyncio.run(AuditLog(db).entries())
        assert [(e.actor, e.action, e.target) for e in entries] == [
            ("root", "user.create", "sari")]
    finally:
        db.close()


def test_migrate_upgrades_the_previous_release_and_keeps_its_data(tmp_path: Path) -> None:
    config = _old_database(tmp_path)
    assert _version(tmp_path) == 0
    first = _migrate(config)
    assert first.returncode == 0, first.stderr
    assert f"schema version {LATEST} (was 0)" in first.stdout
    assert _version(tmp_path) == LATEST
    again = _migrate(config)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    _data_intact(config)


def test_migrate_adds_the_disabled_column_older_databases_lack(tmp_path: Path) -> None:
    config = _old_database(tmp_path)
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        conn.execute("ALTER TABLE staff DROP COLUMN disabled")
    done = _migrate(config)
    assert done.returncode == 0, done.stderr
    assert "staff.disabled" in done.stdout
    _data_intact(config)


def test_migrate_refuses_a_database_from_a_newer_release(tmp_path: Path) -> None:
    config = _old_database(tmp_path)
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 5}")
    refused = _migrate(config)
    assert refused.returncode == 1
    assert f"schema version {LATEST + 5}, newer than this hub knows" in refused.stderr


def test_migrate_creates_the_schema_on_postgresql_once(postgres: PostgreSQL,
                                                       tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text("")
    env = {"SIAGA_HUB__DATABASE__URL": postgres.create_database()}
    first = _migrate(config, env)
    assert first.returncode == 0, first.stderr
    assert f"at schema version {LATEST} (was 0)" in first.stdout
    assert "postgresql://siaga@127.0.0.1" in first.stdout
    again = _migrate(config, env)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_migrate_says_when_postgresql_cannot_be_reached(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text("[database]\nurl = \"postgresql://siaga@127.0.0.1:1/siaga\"\n"
                      "connect_timeout_s = 2\n")
    refused = _migrate(config)
    assert refused.returncode == 1
    assert "cannot reach PostgreSQL at postgresql://siaga@127.0.0.1:1/siaga" in refused.stderr


def test_migrate_names_the_places_of_report_incidents(tmp_path: Path) -> None:
    """Version 2: an incident a citizen report opened under the old `report:<id>` key gets a
    `geo:` key and a label from its coordinates; its report is named too."""
    config = _old_database(tmp_path)
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        # 0.0076 deg north and west of the registry's one site: ~1.2 km north-west
        conn.execute("INSERT INTO incidents VALUES (2, 'fire', 'report:1', 'open', 2, 2, 'PMK',"
                     " 'report', -7.8299, 112.5285, 1795000100.0, 1795000100.0, NULL, 0, 1, 0,"
                     " 0, 0.3, 1, 0)")
        conn.execute("INSERT INTO incident_reports VALUES (1, 1795000100.0, -7.8299, 112.5285,"
                     " 'fire', 'asap tebal', '0812', 2, NULL)")
    done = _migrate(config)
    assert done.returncode == 0, done.stderr
    assert "place names instead of report:<id>" in done.stdout
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        site, label, label_en = conn.execute(
            "SELECT site, place_label, place_label_en FROM incidents WHERE id = 2").fetchone()
        report = conn.execute("SELECT status, place_site, place_label FROM incident_reports"
                              " WHERE id = 1").fetchone()
    assert site == "geo:-7.8299,112.5285"
    assert (label, label_en) == ("1,2 km BL dari Bumiaji slope", "1.2 km NW of Bumiaji slope")
    assert report == ("joined", None, "1,2 km BL dari Bumiaji slope")
    _data_intact(config)


def _outbox_version_2(conn: Any) -> None:
    """Put the two outbox tables back as schema version 2 had them on PostgreSQL
    (incident_id NOT NULL, no report_id): what a hub of the previous release left."""
    for table in ("notify_deliveries", "incident_outbox"):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN report_id")
        conn.execute(f"ALTER TABLE {table} ALTER COLUMN incident_id SET NOT NULL")


def _report_in_triage(db: Database) -> int:
    place = PlaceName(None, "6 km BL dari Pasar Batu", "6 km NW of Pasar Batu")
    facts = ReportFacts(lat=-7.83, lon=112.49, hazard="fire", text="asap", contact=None,
                        place=place, address_key="a", reporter_key="")
    out = db.call(lambda c: record_report(c, IncidentSettings(), facts, 1_795_000_500.0))
    return out.report_id


def test_version_3_lets_the_sqlite_outbox_tell_of_reports_and_keeps_rows_and_counters(
        tmp_path: Path) -> None:
    """Version 3 on SQLite rebuilds incident_outbox and notify_deliveries (a NOT NULL cannot
    be dropped in place): every row kept, and the AUTOINCREMENT counters too, since
    idempotency keys are made of outbox ids and a reused id would silently drop a delivery."""
    config = _old_database(tmp_path)
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        conn.execute("INSERT INTO notify_deliveries (id, outbox_id, incident_id, channel,"
                     " recipient, address, level, payload, key, status, not_before, created_at)"
                     " VALUES (4, 1, 1, 'email', 'user:sari', 'sari@batu.go.id', 3, '{}',"
                     " 'siaga-1-abc', 'sent', 0, 0)")
        conn.execute("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'incident_outbox'")
    done = _migrate(config)
    assert done.returncode == 0, done.stderr
    assert "a delivery may be about a citizen report" in done.stdout
    settings = load_settings(config)
    db = open_database(settings)
    try:
        report_id = _report_in_triage(db)
        rows = db.call(lambda c: [tuple(r) for r in c.execute(
            "SELECT id, incident_id, report_id, type FROM incident_outbox ORDER BY id")])
        assert rows == [(1, 1, None, "incident.opened"), (10, None, report_id, "report.triage")]
        kept = db.call(lambda c: tuple(c.execute(
            "SELECT id, outbox_id, incident_id, report_id, key, status FROM notify_deliveries"
        ).fetchone()))
        assert kept == (4, 1, 1, None, "siaga-1-abc", "sent")
        fks = db.call(lambda c: c.execute("PRAGMA foreign_key_check").fetchall())
        assert fks == []
    finally:
        db.close()
    _data_intact(config)


def test_version_3_on_postgresql_upgrades_a_version_2_database_with_data(
        postgres: PostgreSQL) -> None:
    db = PostgresDatabase(postgres.create_database(), pool_size=2)
    try:
        migrate(db)
        settings = IncidentSettings()
        alert = UplinkAlert(id=1, node="slope-07", hazard="landslide", level=3,
                            previous_level=1, detector="landslide", ts=1_795_000_000_000,
                            explanation="naik", explanation_en="up")
        db.call(lambda c: record_alerts(c, settings, [AlertFacts(
            gateway="gw-1", alert=alert, site="bumiaji-slope", lat=-7.8, lon=112.5)],
            1_795_000_001.0))

        def to_version_2(conn: Any) -> None:
            with transaction(conn):
                _outbox_version_2(conn)
                conn.execute("UPDATE siaga_schema_version SET version = 2")
        db.call(to_version_2)
        with pytest.raises(psycopg.errors.UndefinedColumn):  # version 2 cannot tell of one
            _report_in_triage(db)
        result = migrate(db)
        assert (result.before, result.after) == (2, 3)
        report_id = _report_in_triage(db)
        rows = db.call(lambda c: [tuple(r) for r in c.execute(
            "SELECT incident_id, report_id, type FROM incident_outbox ORDER BY id")])
        assert rows == [(1, None, "incident.opened"), (None, report_id, "report.triage")]
        with pytest.raises(INTEGRITY_ERRORS):  # a row about nothing is still refused
            db.call(lambda c: c.execute("INSERT INTO incident_outbox (type, ts, level, status)"
                                        " VALUES ('x', 0, 1, 'x')"))
        assert migrate(db).applied == ()
    finally:
        db.close()
