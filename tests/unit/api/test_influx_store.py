"""InfluxStore's HTTP behaviour: auth headers, write parameters, retries, error mapping.

influxd cannot be made to answer 503 or 400 on demand, so these run the store's real clients
against a scripted stand-in on a loopback socket (influx_stand_in.py). Writes and queries
against a real influxd are in tests/integration/api/test_telemetry_contract.py; outages of a
real influxd in tests/integration/api/test_hub_ingest_outage.py.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from siaga.api.telemetry.errors import StoreRejected, StoreUnavailable
from siaga.api.telemetry.influx import InfluxStore
from siaga.api.telemetry.influx_reader import influxql_string
from siaga.api.telemetry.settings import TelemetrySettings
from siaga.firmware_bridge.uplink import UplinkReading
from tests.unit.api.influx_stand_in import HANG_UP, STALL, InfluxStandIn, Request, WriteAnswer

pytestmark = pytest.mark.anyio

TS = 1_795_000_000_000

@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def reading(seq: int = 1, node: str = "n1") -> UplinkReading:
    return UplinkReading(id=seq, node=node, channel="vwc", value=1.5, unit="%", ts=TS, rx=TS,
                     seq=seq, src="serial")


Serve = Callable[..., Awaitable[InfluxStandIn]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    running: list[InfluxStandIn] = []

    async def start(answers: list[WriteAnswer] | None = None,
                    answer: Callable[[Request], WriteAnswer] | None = None) -> InfluxStandIn:
        server = await InfluxStandIn(answers or [], answer).start()
        running.append(server)
        return server

    yield start
    for server in running:
        server.close()


async def started(influx: InfluxStandIn, **settings: Any) -> InfluxStore:
    s = TelemetrySettings(kind="influxdb", url=influx.url,
                          **{"retry_backoff_s": 0.001, **settings})
    store = InfluxStore(s, jitter=lambda: 0.0)
    await store.start()
    return store


async def test_token_auth_header_and_write_parameters(serve: Serve) -> None:
    influx = await serve()
    store = await started(influx, token="s3cret", database="siaga", retention_policy="month")
    await store.write_readings("gw", [reading()])
    await store.close()
    create, write = influx.requests[1], influx.requests[2]
    assert create.params["q"] == 'CREATE DATABASE "siaga"'
    assert write.headers["authorization"] == "Token s3cret"
    assert write.params == {"db": "siaga", "rp": "month", "precision": "ns"}
    assert write.body.startswith(b"reading,channel=vwc,gateway=gw,node=n1 value=1.5 ")


async def test_username_password_is_basic_auth_and_create_database_can_be_off(
        serve: Serve) -> None:
    influx = await serve()
    store = await started(influx, username="siaga", password="pw", create_database=False)
    await store.write_readings("gw", [reading()])
    await store.close()
    assert [r.path for r in influx.requests] == ["/ping", "/write"]
    expected = "Basic " + base64.b64encode(b"siaga:pw").decode()
    assert influx.requests[1].headers["authorization"] == expected


@pytest.mark.parametrize("failure", [503, 500, 429, HANG_UP, STALL])
async def test_transient_failures_are_retried(serve: Serve, failure: WriteAnswer) -> None:
    influx = await serve([failure, failure])
    store = await started(influx, max_retries=3, timeout_s=0.3)  # a STALL times out
    assert await store.write_readings("gw", [reading()]) == 1
    await store.close()
    assert len(influx.writes) == 1
    assert sum(r.path == "/write" for r in influx.requests) == 3


async def test_giving_up_after_max_retries_raises_unavailable(serve: Serve) -> None:
    influx = await serve([503] * 10)
    store = await started(influx, max_retries=2)
    with pytest.raises(StoreUnavailable, match="after 3 attempts"):
        await store.write_readings("gw", [reading()])
    await store.close()


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_configuration_failures_are_not_retried(serve: Serve, status: int) -> None:
    influx = await serve([status])
    store = await started(influx, max_retries=5)
    with pytest.raises(StoreUnavailable):
        await store.write_readings("gw", [reading()])
    await store.close()
    assert sum(r.path == "/write" for r in influx.requests) == 1


async def test_a_refused_write_fails_only_its_own_caller_when_combined(serve: Serve) -> None:
    influx = await serve(answer=lambda r: 400 if b"node=bad" in r.body else 204)
    store = await started(influx, write_concurrency=1)
    results = await asyncio.gather(
        store.write_readings("gw", [reading(1)]),
        store.write_readings("gw", [reading(2, node="bad")]),
        store.write_readings("gw", [reading(3)]),
        return_exceptions=True,
    )
    await store.close()
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], StoreRejected)
    posts = [r.body.count(b"\n") + 1 for r in influx.requests if r.path == "/write"]
    assert posts == [3, 1, 1, 1]  # combined first, then one by one


async def test_large_writes_are_split_into_batch_size_posts(serve: Serve) -> None:
    influx = await serve()
    store = await started(influx, batch_size=100, write_concurrency=1)
    await store.write_readings("gw", [reading(i) for i in range(250)])
    await store.close()
    assert sum(body.count(b"\n") + 1 for body in influx.writes) == 250
    assert all(body.count(b"\n") + 1 <= 100 for body in influx.writes)


async def test_writing_before_start_is_unavailable() -> None:
    store = InfluxStore(TelemetrySettings(kind="influxdb"))
    with pytest.raises(StoreUnavailable):
        await store.write_readings("gw", [reading()])


@pytest.mark.parametrize(("value", "literal"), [
    ("plain", "'plain'"), ("it's", "'it\\'s'"), ("back\\slash", "'back\\\\slash'"),
])
def test_influxql_string_literals(value: str, literal: str) -> None:
    assert influxql_string(value) == literal


async def test_closing_while_influxd_hangs_fails_waiting_writes_instead_of_hanging(
        serve: Serve) -> None:
    influx = await serve(answer=lambda _r: STALL)
    store = await started(influx, timeout_s=0.2, write_concurrency=1, retry_backoff_s=0.2)
    first = asyncio.create_task(store.write_readings("gw", [reading(1)]))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(store.write_readings("gw", [reading(2)]))
    await asyncio.sleep(0.05)
    await store.close()
    for task in (first, second):
        with pytest.raises(StoreUnavailable, match="closed"):
            await asyncio.wait_for(task, 2)
