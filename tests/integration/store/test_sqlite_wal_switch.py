"""Opening the hub's SQLite file while another connection writes to it (several hubs starting
on one file at once, as the demo's scale mode does)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from siaga.api.db import connect


def test_open_waits_for_a_writer_while_switching_a_fresh_file_to_wal(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    # A write transaction on a file still in the rollback journal: SQLite refuses the WAL
    # switch at once ("database is locked") without calling the busy handler.
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
    release.start()
    try:
        conn = connect(path)
    finally:
        release.join()
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert [tuple(r) for r in conn.execute("SELECT x FROM t")] == [(1,)]
    finally:
        conn.close()
        writer.close()


def test_open_still_fails_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    path.write_bytes(b"this is not an SQLite file, it is long enough to have a header" * 4)
    try:
        connect(path)
    except sqlite3.DatabaseError as e:
        assert "not a database" in str(e)
    else:
        raise AssertionError("a file that is not a database opened")
