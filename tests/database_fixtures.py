"""The hub database under test: one PostgreSQL cluster per session, and ``hub_db``, run once
on an SQLite file and once on PostgreSQL, so a store test is a contract both engines keep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siaga.api.db import Database
from siaga.api.db_postgres import PostgresDatabase
from siaga.api.migrations import migrate
from siaga.simulators.servers import PostgreSQL


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgreSQL]:
    """One PostgreSQL cluster for the session; each test takes a schema or database of its own."""
    server = PostgreSQL().start()
    yield server
    server.cleanup()


def open_test_database(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Database:
    """An empty hub database at this release's schema, on ``engine`` (sqlite or postgresql)."""
    db: Database
    if engine == "sqlite":
        db = Database(tmp_path / "hub.sqlite3")
    else:
        server: PostgreSQL = request.getfixturevalue("postgres")
        db = PostgresDatabase(server.create_schema(), pool_size=4)
    migrate(db)
    return db


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    db = open_test_database(request.param, tmp_path, request)
    yield db
    db.close()
