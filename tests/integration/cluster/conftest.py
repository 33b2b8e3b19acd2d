"""Two real ``siaga-hub serve`` processes on one PostgreSQL database (telemetry too), with an
admin account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siaga.simulators.servers import HubProcess, PostgreSQL
from tests.sse_client import add_admin


@pytest.fixture
def two_hubs(postgres: PostgreSQL, tmp_path: Path) -> Iterator[list[HubProcess]]:
    url = postgres.create_database()
    # HubProcess writes the [database] header (and an SQLite path the url overrides).
    toml = (f'url = "{url}"\n[telemetry]\nkind = "postgresql"\n'
            '[incidents]\ncheck_interval_s = 1\nreport_limit_per_address = 3\n'
            '[auth]\nlogin_attempts_per_address = 4\n[live]\nkeepalive_s = 1\n')
    hubs = []
    for name in ("a", "b"):
        work = tmp_path / name
        work.mkdir()
        hubs.append(HubProcess(work, toml=toml))
    add_admin(hubs[0])
    for hub in hubs:
        hub.start()
    yield hubs
    for hub in hubs:
        hub.stop()
