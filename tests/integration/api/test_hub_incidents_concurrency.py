"""Dedupe under concurrency: alerts for one hazard and site from many writers at once.

Threads with their own connections and separate processes share one database, like hub
processes on one or several machines: an SQLite file, or a PostgreSQL server (each writer
process its own connection pool). Exactly one incident may be open for the key afterwards,
holding every alert.
"""

from __future__ import annotations

import multiprocessing
import threading
import traceback
from pathlib import Path

import pytest

from siaga.api.db import INTEGRITY_ERRORS, Database
from siaga.api.db_postgres import PostgresDatabase
from siaga.api.incidents.intake import AlertFacts, record_alerts
from siaga.api.incidents.queries import IncidentFilter, load_incidents
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.migrations import migrate
from siaga.firmware_bridge.uplink import UplinkAlert
from siaga.simulators.servers import PostgreSQL

pytestmark = pytest.mark.integration

T0 = 1_795_000_000.0
WRITERS = 8
ALERTS_EACH = 5


def _alerts(writer: int) -> list[AlertFacts]:
    return [
        AlertFacts(gateway=f"gw-{writer}", site="bumiaji-slope", alert=UplinkAlert(
            id=i, node=f"slope-{writer}", hazard="landslide", level=2 + (i % 3),
            previous_level=1, detector="landslide", ts=int((T0 + i) * 1000),
            explanation="rain", explanation_en=""))
        for i in range(ALERTS_EACH)
    ]


def _open(target: str) -> Database:
    """``target`` is a PostgreSQL URL or an SQLite file's path."""
    if target.startswith("postgresql://"):
        return PostgresDatabase(target, pool_size=2)
    return Database(target)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database at this release's schema, named as the writers open it."""
    if request.param == "sqlite":
        where = str(tmp_path / "hub.sqlite3")
    else:
        server: PostgreSQL = request.getfixturevalue("postgres")
        where = server.create_schema()
    db = _open(where)
    migrate(db)
    db.close()
    return where


def _write(path: str, writer: int, barrier: threading.Barrier | None = None,
           event: object | None = None) -> None:
    db = _open(path)
    try:
        if barrier is not None:
            barrier.wait()
        if event is not None:
            event.wait()  # type: ignore[attr-defined]
        for a in _alerts(writer):  # one transaction per alert: the most interleaving
            db.call(lambda c, a=a: record_alerts(c, IncidentSettings(), [a], T0 + 10))
    finally:
        db.close()


def _child(path: str, writer: int, event: object, errors: str) -> None:
    """A process's body: its traceback goes to a file, so a failure says why."""
    try:
        _write(path, writer, None, event)
    except BaseException:
        Path(errors, f"writer-{writer}.txt").write_text(traceback.format_exc())
        raise


def _check(path: str) -> None:
    db = _open(path)
    try:
        rows = db.call(lambda c: load_incidents(c, IncidentFilter()))
        n_open = db.call(lambda c: c.execute(
            "SELECT COUNT(*) FROM incidents WHERE status != 'resolved'").fetchone()[0])
    finally:
        db.close()
    assert len(rows) == 1 and n_open == 1
    assert rows[0].alert_count == WRITERS * ALERTS_EACH
    assert (rows[0].level, rows[0].max_level) == (3, 4)  # each node ended at Siaga


def test_parallel_threads_with_own_connections_make_one_incident(target: str) -> None:
    path = target
    barrier = threading.Barrier(WRITERS)
    threads = [threading.Thread(target=_write, args=(str(path), w, barrier))
               for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    _check(path)


def test_parallel_processes_make_one_incident(target: str, tmp_path: Path) -> None:
    path = target
    # Separate processes with connections of their own, forked from one server that imported
    # this module once: "spawn" imported the hub's modules in every writer (8 x ~1 s of CPU).
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    go = ctx.Event()
    errors = tmp_path / "errors"
    errors.mkdir()
    procs = [ctx.Process(target=_child, args=(str(path), w, go, str(errors)))
             for w in range(WRITERS)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(timeout=240)
    reasons = "\n".join(f.read_text() for f in sorted(errors.iterdir()))
    assert [p.exitcode for p in procs] == [0] * WRITERS, reasons
    _check(path)


def test_the_schema_itself_refuses_a_second_open_incident(target: str) -> None:
    """The partial unique index is the last line: even a writer that skips the rules fails."""
    db = _open(target)
    insert = ("INSERT INTO incidents (hazard, site, level, max_level, agency, origin, opened_at,"
              " updated_at, status) VALUES ('fire', 'pasar', 3, 3, 'PMK', 'alert', 0, 0, ?)")
    db.call(lambda c: c.execute(insert, ("open",)))
    db.call(lambda c: c.execute(insert, ("resolved",)))  # closed ones may repeat
    with pytest.raises(INTEGRITY_ERRORS):
        db.call(lambda c: c.execute(insert, ("acknowledged",)))
    db.close()
