"""SqliteStore: telemetry in an SQLite file of its own, the embedded default.

WAL journal and ``synchronous=FULL``: a write returns after the commit is fsynced. The tables
and queries are :mod:`siaga.api.telemetry.sql_store`'s.
"""

from __future__ import annotations

from pathlib import Path

from siaga.api.db import Database
from siaga.api.telemetry.sql_store import SqlStore

__all__ = ["SqliteStore"]


class SqliteStore(SqlStore):
    kind = "sqlite"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)

    def _open(self) -> Database:
        if self.path.parent != Path(""):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        return Database(self.path)
