"""``insert_pending`` (many rows per INSERT statement) against the plain form it replaced,
``executemany`` of a one-row INSERT: the same rows, ids and sqlite_sequence, in order."""

from __future__ import annotations

import sqlite3
from itertools import repeat
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.gateway.buffer_sqlite import INSERT_ROWS, SCHEMA, insert_pending, open_buffer_db

PLAIN = "INSERT INTO pending (kind, payload, enqueued_at) VALUES (?, ?, ?)"


def _db(path: Path) -> sqlite3.Connection:
    db = open_buffer_db(str(path))
    db.execute("PRAGMA synchronous=OFF")  # what is inserted is the question, not the fsync
    db.executescript(SCHEMA)
    return db


def _state(db: sqlite3.Connection) -> tuple[list[tuple[int, int, str, int]], list[int]]:
    rows = db.execute("SELECT id, kind, payload, enqueued_at FROM pending ORDER BY id")
    seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'pending'")
    return rows.fetchall(), [s for (s,) in seq]


payloads = st.lists(st.text(max_size=40), max_size=600)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1]), payloads), min_size=1, max_size=3),
       st.integers(min_value=0, max_value=2**53))
def test_the_same_rows_as_one_insert_per_row(
    tmp_path_factory: object, commits: list[tuple[int, list[str]]], at: int
) -> None:
    base = tmp_path_factory.mktemp("insert")  # type: ignore[attr-defined]
    fast, plain = _db(base / "fast.sqlite3"), _db(base / "plain.sqlite3")
    for kind, texts in commits:
        for db, many in ((fast, False), (plain, True)):
            db.execute("BEGIN IMMEDIATE")
            if many:
                db.executemany(PLAIN, zip(repeat(kind), texts, repeat(at)))
            else:
                insert_pending(db, kind, texts, at)
            db.execute("COMMIT")
        # the caller reads the first id back from the last one: the ids are consecutive
        assert fast.execute("SELECT last_insert_rowid()").fetchone() \
            == plain.execute("SELECT last_insert_rowid()").fetchone() or not texts
    assert _state(fast) == _state(plain)


def test_every_statement_size_and_the_remainders_keep_the_order(tmp_path: Path) -> None:
    db = _db(tmp_path / "b.sqlite3")
    count = sum(INSERT_ROWS) * 2 + INSERT_ROWS[0] - 1  # each size used, a remainder each
    texts = [f"p{i}" for i in range(count)]
    insert_pending(db, 0, texts, 7)
    rows, _ = _state(db)
    assert [payload for _, _, payload, _ in rows] == texts
    assert [row_id for row_id, _, _, _ in rows] == list(range(1, count + 1))
