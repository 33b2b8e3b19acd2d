"""Two real ``siaga-hub serve`` processes on one PostgreSQL database (telemetry too), with an
admin account: ``two_hubs`` of the test's own, for a test that kills a process or spends the
loopback address's login budget; ``shared_hubs`` for the module, for tests that only add
names of their own (a gateway, a site, a node) and leave both processes running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siaga.simulators.servers import HubProcess, PostgreSQL, start_together, stop_together
from tests.sse_client import add_admin


def _started_hubs(postgres: PostgreSQL, workdir: Path) -> list[HubProcess]:
    url = postgres.create_database()
    # HubProcess writes the [database] header (and an SQLite path the url overrides).
    toml = (f'url = "{url}"\n[telemetry]\nkind = "postgresql"\n'
            '[incidents]\ncheck_interval_s = 1\nreport_limit_per_address = 3\n'
            '[auth]\nlogin_attempts_per_address = 4\n[live]\nkeepalive_s = 1\n')
    hubs = []
    for name in ("a", "b"):
        work = workdir / name
        work.mkdir()
        hubs.append(HubProcess(work, toml=toml))
    add_admin(hubs[0])  # migrates the database before both start
    start_together(hubs)
    return hubs


@pytest.fixture
def two_hubs(postgres: PostgreSQL, tmp_path: Path) -> Iterator[list[HubProcess]]:
    hubs = _started_hubs(postgres, tmp_path)
    yield hubs
    stop_together(hubs)


@pytest.fixture(scope="module")
def shared_hubs(postgres: PostgreSQL,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[HubProcess]]:
    hubs = _started_hubs(postgres, tmp_path_factory.mktemp("hubs"))
    yield hubs
    stop_together(hubs)
