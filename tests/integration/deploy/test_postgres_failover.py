"""PostgreSQL fail-over as docs/scale.md describes it, with real parts: a primary and a
streaming replica (``pg_basebackup -R``), one ``siaga-hub serve`` whose ``[database] url``
names both hosts with ``target_session_attrs=read-write``. The primary is killed: the hub
answers 503 with Retry-After instead of hanging; the replica is promoted: the same hub
process, not restarted, serves reads and writes again and still has what was written before.
~25 s: two clusters, a base backup and a hub process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from siaga.simulators.servers import HubProcess, PostgreSQL, postgres_binary

PASSWORD = "failover-test-password"


def replica_of(primary: PostgreSQL) -> PostgreSQL:
    """A hot standby streaming from ``primary``, started, in a temp dir of its own (where the
    postgres user can reach it; pytest's are private to root)."""
    workdir = Path(tempfile.mkdtemp(prefix="siaga-pg-replica-"))
    owner: dict[str, str] = {}
    if os.geteuid() == 0:  # PostgreSQL runs as postgres, who must own its data
        shutil.chown(workdir, "postgres", "postgres")
        owner = {"user": "postgres", "group": "postgres"}
    subprocess.run(
        [postgres_binary("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
         "-U", primary.user, "-D", str(workdir / "data"), "-R", "-X", "stream",
         "--checkpoint=fast"],
        check=True, capture_output=True, **owner)  # type: ignore[call-overload]
    return PostgreSQL(workdir=workdir).start()


def wait_replayed(primary: PostgreSQL, replica: PostgreSQL, timeout: float = 20) -> None:
    """Until the replica has replayed everything the primary has committed so far.

    The test cluster commits asynchronously (``synchronous_commit=off``): a commit's record
    may not be written yet, so wait for the insert position, not the write position; a
    primary killed before that would lose the commit, as docs/scale.md says.
    """
    with psycopg.connect(primary.url()) as conn:
        lsn = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]  # type: ignore[index]
    deadline = time.monotonic() + timeout
    with psycopg.connect(replica.url(), autocommit=True) as conn:
        while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                               (lsn,)).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.1)


@pytest.fixture
def pair() -> Iterator[tuple[PostgreSQL, PostgreSQL]]:
    primary = PostgreSQL().start()
    replica = None
    try:
        with psycopg.connect(primary.url(), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "siaga"')
        replica = replica_of(primary)
        yield primary, replica
    finally:
        if replica is not None:
            replica.cleanup()
        primary.cleanup()


def test_the_hub_rides_out_a_promotion(pair: tuple[PostgreSQL, PostgreSQL],
                                       tmp_path: Path) -> None:
    primary, replica = pair
    url = (f"postgresql://siaga@127.0.0.1:{primary.port},127.0.0.1:{replica.port}/siaga"
           "?target_session_attrs=read-write")
    hub = HubProcess(tmp_path, database_url=url)
    hub.config.write_text(hub.config.read_text().replace(
        "[database]\n", "[database]\nconnect_timeout_s = 3\n"))
    subprocess.run([sys.executable, "-m", "siaga.api", "--config", str(hub.config), "user",
                    "add", "ops", "--agency", "BPBD", "--role", "admin", "--password-stdin"],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    hub.start()
    try:
        with httpx.Client(base_url=hub.url, timeout=30) as client:
            token = client.post("/api/v1/auth/token", json={
                "username": "ops", "password": PASSWORD}).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            before = client.post("/api/v1/admin/users", headers=auth, json={
                "username": "before-failover", "agency": "BPBD", "role": "viewer",
                "password": "before-failover-pw"})
            assert before.status_code == 201, before.text
            wait_replayed(primary, replica)

            primary.kill()  # the primary's machine dies
            down = client.get("/api/v1/admin/users", headers=auth)
            assert down.status_code == 503, down.text
            assert down.headers["Retry-After"] == "5"

            with psycopg.connect(replica.url(), autocommit=True) as conn:
                assert conn.execute("SELECT pg_promote(true, 30)").fetchone()[0]  # type: ignore[index]
            deadline = time.monotonic() + 30
            while True:
                users = client.get("/api/v1/admin/users", headers=auth)
                if users.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert users.status_code == 200, users.text
            assert "before-failover" in users.text
            after = client.post("/api/v1/admin/users", headers=auth, json={
                "username": "after-failover", "agency": "BPBD", "role": "viewer",
                "password": "after-failover-pw"})
            assert after.status_code == 201, after.text
            assert client.get("/healthz").status_code == 200
        assert hub.proc is not None and hub.proc.poll() is None  # the same process throughout
    finally:
        hub.stop()
