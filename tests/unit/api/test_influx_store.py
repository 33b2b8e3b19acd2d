"""InfluxStore's HTTP behaviour: auth headers, write parameters, retries, error mapping.

influxd cannot be made to answer 503 or 400 on demand, so these use httpx's MockTransport
(the store's one injectable boundary). Writes and queries against a real influxd are in
tests/integration/api/test_telemetry_contract.py; outages of a real influxd in
tests/integration/api/test_hub_ingest_outage.py.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from siaga.api.telemetry.errors import StoreRejected, StoreUnavailable
from siaga.api.telemetry.influx import InfluxStore
from siaga.api.telemetry.influx_reader import influxql_string
from siaga.api.telemetry.settings import TelemetrySettings
from siaga.firmware_bridge.uplink import UplinkReading

pytestmark = pytest.mark.anyio

TS = 1_795_000_000_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def reading(seq: int = 1, node: str = "n1") -> UplinkReading:
    return UplinkReading(id=seq, node=node, channel="vwc", value=1.5, unit="%", ts=TS, rx=TS,
                     seq=seq, src="serial")


class Influx:
    """Records requests; ``answers`` gives the /write status codes in turn (then 204)."""

    def __init__(self, answers: list[int | Exception] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.writes: list[bytes] = []
        self.answers = list(answers or [])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/ping":
            return httpx.Response(204)
        if request.url.path == "/query":
            return httpx.Response(200, json={"results": [{"statement_id": 0}]})
        answer = self.answers.pop(0) if self.answers else 204
        if isinstance(answer, Exception):
            raise answer
        if answer == 204:
            self.writes.append(request.content)
        return httpx.Response(answer, json={"error": f"status {answer}"})


async def started(influx: Influx, **settings: Any) -> InfluxStore:
    s = TelemetrySettings(kind="influxdb", url="http://influx:8086",
                          **{"retry_backoff_s": 0.001, **settings})
    store = InfluxStore(s, transport=httpx.MockTransport(influx), jitter=lambda: 0.0)
    await store.start()
    return store


async def test_token_auth_header_and_write_parameters() -> None:
    influx = Influx()
    store = await started(influx, token="s3cret", database="siaga", retention_policy="month")
    await store.write_readings("gw", [reading()])
    await store.close()
    create, write = influx.requests[1], influx.requests[2]
    assert create.url.params["q"] == 'CREATE DATABASE "siaga"'
    assert write.headers["authorization"] == "Token s3cret"
    assert dict(write.url.params) == {"db": "siaga", "rp": "month", "precision": "ns"}
    assert write.content.startswith(b"reading,channel=vwc,gateway=gw,node=n1 value=1.5 ")


async def test_username_password_is_basic_auth_and_create_database_can_be_off() -> None:
    influx = Influx()
    store = await started(influx, username="siaga", password="pw", create_database=False)
    await store.write_readings("gw", [reading()])
    await store.close()
    assert [r.url.path for r in influx.requests] == ["/ping", "/write"]
    expected = "Basic " + base64.b64encode(b"siaga:pw").decode()
    assert influx.requests[1].headers["authorization"] == expected


@pytest.mark.parametrize("failure", [503, 500, 429, httpx.ConnectError("refused"),
                                     httpx.ReadTimeout("slow")])
async def test_transient_failures_are_retried(failure: int | Exception) -> None:
    influx = Influx([failure, failure])
    store = await started(influx, max_retries=3)
    assert await store.write_readings("gw", [reading()]) == 1
    await store.close()
    assert len(influx.writes) == 1
    assert sum(r.url.path == "/write" for r in influx.requests) == 3


async def test_giving_up_after_max_retries_raises_unavailable() -> None:
    influx = Influx([503] * 10)
    store = await started(influx, max_retries=2)
    with pytest.raises(StoreUnavailable, match="after 3 attempts"):
        await store.write_readings("gw", [reading()])
    await store.close()


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_configuration_failures_are_not_retried(status: int) -> None:
    influx = Influx([status])
    store = await started(influx, max_retries=5)
    with pytest.raises(StoreUnavailable):
        await store.write_readings("gw", [reading()])
    await store.close()
    assert sum(r.url.path == "/write" for r in influx.requests) == 1


async def test_a_refused_write_fails_only_its_own_caller_when_combined() -> None:
    import asyncio

    bad_body = b"node=bad"

    posts: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            return httpx.Response(200, json={"results": [{"statement_id": 0}]})
        if request.url.path == "/write":
            posts.append(request.content.count(b"\n") + 1)
        if request.url.path == "/write" and bad_body in request.content:
            return httpx.Response(400, json={"error": "field type conflict"})
        return httpx.Response(204)

    store = InfluxStore(TelemetrySettings(kind="influxdb", write_concurrency=1),
                        transport=httpx.MockTransport(answer))
    await store.start()
    results = await asyncio.gather(
        store.write_readings("gw", [reading(1)]),
        store.write_readings("gw", [reading(2, node="bad")]),
        store.write_readings("gw", [reading(3)]),
        return_exceptions=True,
    )
    await store.close()
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], StoreRejected)
    assert posts[0] == 3  # combined first, then one by one


async def test_large_writes_are_split_into_batch_size_posts() -> None:
    influx = Influx()
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




async def test_closing_while_influxd_hangs_fails_waiting_writes_instead_of_hanging() -> None:
    import asyncio

    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/write":
            await release.wait()
        if request.url.path == "/query":
            return httpx.Response(200, json={"results": [{"statement_id": 0}]})
        return httpx.Response(204)

    store = InfluxStore(TelemetrySettings(kind="influxdb", timeout_s=0.2, write_concurrency=1),
                        transport=httpx.MockTransport(slow))
    await store.start()
    first = asyncio.create_task(store.write_readings("gw", [reading(1)]))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(store.write_readings("gw", [reading(2)]))
    await asyncio.sleep(0.05)
    await store.close()
    for task in (first, second):
        with pytest.raises(StoreUnavailable, match="closed"):
            await asyncio.wait_for(task, 2)
