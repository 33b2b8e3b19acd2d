"""The hub's database (incidents, registry, accounts, audit), shared by its modules.

Two engines behind one small interface: an SQLite file (:class:`Database`, the embedded
default) and a PostgreSQL server (:class:`siaga.api.db_postgres.PostgresDatabase`, for several
hub processes on several machines). Modules write their SQL once, in the dialect both accept
(``?`` placeholders, ``ON CONFLICT``, ``RETURNING``); the PostgreSQL side rewrites the few
SQLite spellings left (:mod:`siaga.api.sql_dialect`).

Each module owns its tables; :mod:`siaga.api.migrations` creates and upgrades them all, and
``siaga-hub migrate`` runs it. Calls run in a worker thread (``await db.run(fn)``) so the
event loop never blocks on the database. Rules that must hold across processes (one open
incident per hazard and site) are enforced by a write transaction that excludes every other
writer (:class:`transaction`) and backed by the schema (unique indexes), never by in-process
locks.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

__all__ = [
    "Connection",
    "Cursor",
    "Database",
    "Dialect",
    "INTEGRITY_ERRORS",
    "Row",
    "concurrent",
    "connect",
    "exclusive",
    "transaction",
]

T = TypeVar("T")

# The unique-constraint errors of both engines ("already exists").
INTEGRITY_ERRORS: tuple[type[Exception], ...]
try:
    from psycopg import IntegrityError as _PostgresIntegrityError
except ImportError:  # the PostgreSQL driver is optional (pip install siaga[postgres])
    INTEGRITY_ERRORS = (sqlite3.IntegrityError,)
else:
    INTEGRITY_ERRORS = (sqlite3.IntegrityError, _PostgresIntegrityError)

Dialect = Literal["sqlite", "postgresql"]

# A result row: indexable by position and by column name (sqlite3.Row, or its PostgreSQL twin).
Row = Any


class Cursor(Protocol):
    """What callers use of a cursor: rows and the count of rows a write touched."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of ``sqlite3.Connection`` the hub uses; PostgreSQL connections are adapted to it."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    def executescript(self, sql_script: str, /) -> Cursor: ...


BUSY_TIMEOUT_S = 30.0


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        _use_wal(conn)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        conn.close()  # not left to the garbage collector (a ResourceWarning since Python 3.13)
        raise
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch a file to WAL, waiting for other connections as long as any statement would.

    Converting a fresh (rollback-journal) file to WAL while another connection holds its write
    lock fails with "database is locked" at once: SQLite does not call the busy handler there.
    Hubs that start together on one file (the demo's scale mode) met it: 11 of 1,200 opens by
    12 processes at once failed before this retry."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


class Database:
    """The hub database. This class is the SQLite file: one connection used from one worker
    thread at a time (a lock serialises calls); several processes may share the file (WAL).
    :class:`~siaga.api.db_postgres.PostgresDatabase` is the same interface over a pool."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn = connect(self.path)
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """Where the data lives, for messages (a path or a URL without its password)."""
        return self.path

    def call(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` synchronously (for startup, CLIs and tests)."""
        with self._lock:
            return fn(self._conn)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in a worker thread; writes use ``with transaction(conn):`` inside."""
        return await asyncio.to_thread(self.call, fn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class transaction:  # noqa: N801 - used like the context manager it is
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection.

    IMMEDIATE takes the write lock at the start, so two processes deciding "is there an open
    incident?" cannot both read "no" and then both insert. On PostgreSQL the same words take
    a transaction-scoped advisory lock that every hub writer shares (see db_postgres.py).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


class exclusive(transaction):  # noqa: N801 - used like the context manager it is
    """A write transaction that, on PostgreSQL, excludes only the others taking the same
    ``key`` (a transaction advisory lock, not the hub's write lock: appending live events or
    counting a login need not wait for incident writes). On SQLite every write transaction
    excludes every other, so this is ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: Connection, dialect: Dialect, key: int) -> None:
        super().__init__(conn)
        self.dialect = dialect
        self.key = key

    def __enter__(self) -> Connection:
        if self.dialect == "sqlite":
            return super().__enter__()
        self.conn.execute("BEGIN")
        try:
            self.conn.execute("SELECT pg_advisory_xact_lock(?)", (self.key,))
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return self.conn


class concurrent(transaction):  # noqa: N801 - used like the context manager it is
    """A write transaction that, on PostgreSQL, takes no lock of its own (a plain ``BEGIN``):
    for upserts that conflict only on the rows they write (telemetry), so writers in several
    processes proceed at once and wait only for each other's rows. On SQLite every write
    transaction excludes every other, so this is ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        super().__init__(conn)
        self.dialect = dialect

    def __enter__(self) -> Connection:
        if self.dialect == "sqlite":
            return super().__enter__()
        self.conn.execute("BEGIN")
        return self.conn
