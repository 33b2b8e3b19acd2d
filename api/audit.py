"""The audit log: who changed which account, gateway token or registry entry, and when.

Every admin change made through the API is recorded here (append-only; the API has no way
to edit or delete an entry) and shown on the dashboard's audit page. Secrets (passwords,
tokens) are never written: an entry says that a password was reset, not what to.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from siaga.api.db import Connection, Database, transaction

__all__ = ["AuditEntry", "AuditLog"]


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    ts: float = Field(description="When (POSIX s)")
    actor: str = Field(description="Username of the admin who made the change")
    action: str = Field(description="e.g. user.create, user.update, gateway.token.rotate")
    target: str = Field(description="What was changed: a username, gateway, site or node id")
    detail: dict[str, Any] = Field(description="The changed fields (never a secret)")


def ensure_schema(conn: Connection) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            detail TEXT NOT NULL
        )
        """
    )


class AuditLog:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        db.call(ensure_schema)

    async def record(self, actor: str, action: str, target: str,
                     detail: Mapping[str, Any] | None = None) -> None:
        body = json.dumps(dict(detail or {}), ensure_ascii=False, default=str)
        now = self._clock()

        def insert(conn: Connection) -> None:
            with transaction(conn):
                conn.execute("INSERT INTO audit_log (ts, actor, action, target, detail)"
                             " VALUES (?, ?, ?, ?, ?)", (now, actor, action, target, body))

        await self._db.run(insert)

    async def entries(self, limit: int = 200, before: int | None = None) -> list[AuditEntry]:
        """Newest first; ``before`` (an entry id) pages back."""
        rows = await self._db.run(lambda c: c.execute(
            "SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?",
            (before if before is not None else 2**62, limit)).fetchall())
        return [AuditEntry(id=r["id"], ts=r["ts"], actor=r["actor"], action=r["action"],
                           target=r["target"], detail=json.loads(r["detail"])) for r in rows]
