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

import pytest

from siaga.api.accounts import Accounts
from siaga.api.audit import AuditLog
from siaga.api.incidents.queries import IncidentFilter, load_incidents
from siaga.api.migrations import MIGRATIONS
from siaga.api.registry import Registry
from siaga.api.services import open_database
from siaga.api.settings import load_settings
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
