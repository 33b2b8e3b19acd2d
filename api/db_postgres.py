"""The hub database on PostgreSQL: a psycopg 3 connection pool behind :class:`Database`'s calls.

Connections are in autocommit mode, like the SQLite one, and adapted to the small
``Connection`` interface the hub's modules use (:mod:`siaga.api.db`); their SQL is rewritten
by :mod:`siaga.api.sql_dialect`. Rows answer ``row[0]`` and ``row["name"]`` like
``sqlite3.Row``; ``numeric`` results (``SUM`` of integers) come back as float.

Write transactions: ``BEGIN IMMEDIATE`` becomes ``BEGIN`` plus a transaction-scoped advisory
lock shared by every hub writer on the database, so writes are serialised across processes
and machines exactly as SQLite serialises them across processes: a decision read inside the
transaction ("is there an open incident for this hazard and site?") cannot be raced. The
partial unique index stays as the schema's own guarantee. Reads take no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import adapt
from psycopg.rows import RowMaker
from psycopg_pool import ConnectionPool, PoolTimeout

from siaga.api.db import Cursor, Database
from siaga.api.errors import Unavailable
from siaga.api.sql_dialect import postgres_sql, split_script

__all__ = ["WRITE_LOCK_KEY", "PgRow", "PostgresDatabase", "PostgresConnection", "redact_url"]

T = TypeVar("T")

# pg_advisory_xact_lock key taken by every write transaction ("siaga" in ASCII).
WRITE_LOCK_KEY = 0x7369616761


class PgRow(tuple[Any, ...]):
    """A result row readable by position and by column name, like ``sqlite3.Row``."""

    _names: dict[str, int]

    def __new__(cls, names: dict[str, int], values: Sequence[Any]) -> PgRow:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[PgRow]:
    names = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: PgRow(names, values)


class _FloatLoader(adapt.Loader):
    """``numeric`` as float: the hub's SQL sums integer columns, and SQLite answers a number."""

    def load(self, data: Any) -> float:
        return float(bytes(data))


def _params(parameters: Any) -> Any:
    # SQLite stores a bool as 0/1; PostgreSQL will not put a boolean into a BIGINT column.
    if isinstance(parameters, dict):
        return {k: int(v) if isinstance(v, bool) else v for k, v in parameters.items()}
    return [int(v) if isinstance(v, bool) else v for v in parameters]


class PostgresConnection:
    """One pooled psycopg connection seen through the hub's ``Connection`` interface."""

    def __init__(self, conn: psycopg.Connection[PgRow]) -> None:
        self.raw = conn

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        if sql == "BEGIN IMMEDIATE":
            self.raw.execute("BEGIN")
            return self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        if parameters:
            return self.raw.execute(postgres_sql(sql), _params(parameters))
        # No parameters: no placeholder rewriting either (a literal % stays itself).
        return self.raw.execute(postgres_sql(sql).replace("%%", "%"))

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        cur = self.raw.cursor()
        rows = [_params(p) for p in parameters]
        if rows:
            cur.executemany(postgres_sql(sql), rows)
        return cur

    def executescript(self, sql_script: str, /) -> Cursor:
        cur = self.raw.cursor()
        for statement in split_script(sql_script):
            cur.execute(postgres_sql(statement).replace("%%", "%"))
        return cur


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unreadable URL)"
    host = info.get("host", "")
    port = info.get("port", "")
    return f"postgresql://{info.get('user', '')}@{host}:{port}/{info.get('dbname', '')}"


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_loader("numeric", _FloatLoader)


class PostgresDatabase(Database):
    """The hub database on a PostgreSQL server; ``url`` is a libpq URL or conninfo string.

    ``pool_size`` connections at most per process (one per concurrent worker-thread call).
    A connection found broken when taken from the pool is replaced, so the hub recovers by
    itself after the server restarts or fails over.
    """

    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, timeout=connect_timeout_s,
            kwargs={"autocommit": True, "row_factory": _row_factory,
                    "connect_timeout": max(1, int(connect_timeout_s))},
            configure=_configure, check=ConnectionPool.check_connection,
            name="siaga-hub")
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except PoolTimeout as exc:
            self._pool.close()
            raise Unavailable(
                f"cannot reach PostgreSQL at {redact_url(url)} within {connect_timeout_s:g} s"
                f" ({exc})") from None
        self._closed = threading.Event()

    @property
    def where(self) -> str:
        return redact_url(self.url)

    def call(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(conn)``; a server that cannot be reached is :class:`Unavailable` (503 with
        Retry-After: gateways keep their batch and send it again later)."""
        try:
            with self._pool.connection() as conn:
                return fn(PostgresConnection(conn))
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise Unavailable(f"the database {self.where} cannot be reached: {exc}",
                              headers={"Retry-After": "5"}) from exc

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._pool.close()

