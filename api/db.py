"""The hub's SQLite database (incidents, registry, accounts), shared by its modules.

Each module owns its tables and creates them with ``CREATE TABLE IF NOT EXISTS`` in its own
``ensure_schema(conn)``. Calls run in a worker thread (``await db.run(fn)``) so the event loop
never blocks on disk. Several hub processes may share one file: WAL mode and a busy timeout
let them, and rules that must hold across processes (one open incident per hazard and site)
are enforced by the schema (unique indexes), not by in-process locks.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Database:
    """One connection used from one worker thread at a time (a lock serialises calls)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn = connect(self.path)
        self._lock = threading.Lock()

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` synchronously (for startup, CLIs and tests)."""
        with self._lock:
            return fn(self._conn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a worker thread; writes use ``with transaction(conn):`` inside."""
        return await asyncio.to_thread(self.call, fn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class transaction:  # noqa: N801 - used like the context manager it is
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection.

    IMMEDIATE takes the write lock at the start, so two processes deciding "is there an open
    incident?" cannot both read "no" and then both insert.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
