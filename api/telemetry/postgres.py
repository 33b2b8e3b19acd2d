"""PostgresStore: telemetry in the hub's PostgreSQL database, next to its incidents.

For a deployment that already runs the hub on PostgreSQL and has no InfluxDB: every hub process
writes and reads the same tables. The tables and queries are
:mod:`siaga.api.telemetry.sql_store`'s, read through :mod:`siaga.api.sql_dialect`; timestamps
are ``BIGINT`` milliseconds. Writes take no hub-wide lock (``concurrent``): a rewrite of the
same reading is ``ON CONFLICT DO NOTHING`` and "latest" an upsert that keeps the newer row, so
several processes write at once. There is no retention or downsampling here: years of data
belong in InfluxDB (docs/scale.md).
"""

from __future__ import annotations

from siaga.api.db import Connection, Database, exclusive
from siaga.api.telemetry.sql_store import SCHEMA, SqlStore

__all__ = ["PostgresStore"]

# pg_advisory_xact_lock key of the schema creation ("siaga-t" in ASCII): hub processes starting
# together would otherwise race CREATE TABLE IF NOT EXISTS into a duplicate-key error.
_SCHEMA_LOCK_KEY = 0x73696167612D74


class PostgresStore(SqlStore):
    """The telemetry tables in ``db`` (the hub's database, shared: :meth:`close` leaves it open
    for its owner, and its ``pool_size`` serves telemetry too)."""

    kind = "postgresql"

    def __init__(self, db: Database) -> None:
        super().__init__()
        if db.dialect != "postgresql":
            raise ValueError("PostgresStore needs the hub database on PostgreSQL")
        self._hub_db = db

    def _open(self) -> Database:
        return self._hub_db

    def _create_schema(self, conn: Connection) -> None:
        with exclusive(conn, "postgresql", _SCHEMA_LOCK_KEY):
            conn.executescript(SCHEMA)

    async def close(self) -> None:
        self._db = None
