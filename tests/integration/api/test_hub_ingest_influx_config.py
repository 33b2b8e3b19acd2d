"""InfluxStore options against a real influxd: user/password auth (influxd with
``auth-enabled``), a retention policy, and the database created at start."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from siaga.api.telemetry.errors import StoreUnavailable
from siaga.api.telemetry.influx import InfluxStore
from siaga.api.telemetry.settings import TelemetrySettings
from siaga.firmware_bridge.uplink import UplinkReading
from siaga.simulators.servers import InfluxDB

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

T0 = 1_795_000_000_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def influxql(server: InfluxDB, q: str, auth: tuple[str, str] | None = None) -> dict:
    params = {"q": q}
    if auth:
        params.update(u=auth[0], p=auth[1])
    req = urllib.request.Request(f"{server.url}/query?{urllib.parse.urlencode(params)}",
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)  # type: ignore[no-any-return]


@pytest.fixture
def secured_influxdb(monkeypatch: pytest.MonkeyPatch) -> Iterator[InfluxDB]:
    """influxd with an admin user and HTTP auth on (InfluxDB reads INFLUXDB_* overrides)."""
    server = InfluxDB().start()
    influxql(server, "CREATE USER admin WITH PASSWORD 'rahasia-123' WITH ALL PRIVILEGES")
    server.stop()
    monkeypatch.setenv("INFLUXDB_HTTP_AUTH_ENABLED", "true")
    server.start()
    yield server
    server.cleanup()


def reading(seq: int) -> UplinkReading:
    return UplinkReading(id=seq, node="n1", channel="vwc", value=1.0 + seq, unit="%",
                     ts=T0 + seq, rx=T0, seq=seq, src="serial")


async def test_username_and_password_open_a_secured_influxd(secured_influxdb: InfluxDB) -> None:
    store = InfluxStore(TelemetrySettings(kind="influxdb", url=secured_influxdb.url,
                                          database="secure", username="admin",
                                          password=SecretStr("rahasia-123")))
    await store.start()
    try:
        assert await store.write_readings("gw", [reading(1), reading(2)]) == 2
        assert [p.seq for p in await store.readings("n1", "vwc", T0, T0 + 10)] == [1, 2]
    finally:
        await store.close()


async def test_wrong_password_fails_at_start_and_anonymous_writes_fail(
    secured_influxdb: InfluxDB,
) -> None:
    wrong = InfluxStore(TelemetrySettings(kind="influxdb", url=secured_influxdb.url,
                                          database="secure", username="admin",
                                          password=SecretStr("salah")))
    with pytest.raises(StoreUnavailable, match="refused the credentials"):
        await wrong.start()
    await wrong.close()
    anonymous = InfluxStore(TelemetrySettings(kind="influxdb", url=secured_influxdb.url,
                                              database="secure", create_database=False))
    await anonymous.start()
    try:
        with pytest.raises(StoreUnavailable, match="401"):
            await anonymous.write_readings("gw", [reading(1)])
    finally:
        await anonymous.close()


async def test_a_retention_policy_is_written_to_and_read_from(influxdb: InfluxDB) -> None:
    influxql(influxdb, 'CREATE DATABASE "rp_test"')
    influxql(influxdb, 'CREATE RETENTION POLICY "sebulan" ON "rp_test" DURATION 30d '
                       "REPLICATION 1")
    store = InfluxStore(TelemetrySettings(kind="influxdb", url=influxdb.url, database="rp_test",
                                          retention_policy="sebulan"))
    await store.start()
    now = int(time.time() * 1000)  # a 30-day policy refuses points older than 30 days
    recent = UplinkReading(id=1, node="n1", channel="vwc", value=2.0, unit="%", ts=now - 60_000,
                       rx=now, seq=1, src="serial")
    try:
        await store.write_readings("gw", [recent])
        got = await store.readings("n1", "vwc", now - 120_000, now)
        assert [p.seq for p in got] == [1]
    finally:
        await store.close()
    q = urllib.parse.urlencode({"db": "rp_test", "q": 'SELECT count(value) FROM "reading"'})
    with urllib.request.urlopen(f"{influxdb.url}/query?{q}", timeout=10) as r:
        default_rp = json.load(r)
    assert "series" not in default_rp["results"][0]  # nothing in the default policy
