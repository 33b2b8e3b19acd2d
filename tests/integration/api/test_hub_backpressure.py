"""Issue 12 case 9: a slow or dead telemetry store gives gateways 503 + Retry-After within a
bounded time, never a timeout; the hub drops work for callers that gave up; a gateway backs
off and delivers everything once the store is back.

Real ``siaga-hub serve`` processes and a real influxd, stalled with SIGSTOP (it accepts
connections and never answers: a disk or a process stuck) and killed with SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from siaga.api.telemetry.influx import InfluxStore
from siaga.api.telemetry.settings import TelemetrySettings
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.uplink.http_uplink import HttpUplink
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.servers import HubProcess, InfluxDB
from tests.integration.api.test_hub_ingest_http import make_batch
from tests.integration.api.test_hub_ingest_outage import reading as uplink_reading
from tests.integration.gateway.hub_stand_in import wait_for
from tests.integration.uplink.test_uplink_mqtt import reading

pytestmark = pytest.mark.integration

DEADLINE_S = 3.0
RETRY_AFTER_S = 2
GATEWAY_TIMEOUT_S = 15.0  # the gateway's default uplink.http_timeout_s


@pytest.fixture
def influxd() -> Iterator[InfluxDB]:
    server = InfluxDB().start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.proc.send_signal(signal.SIGCONT)
    server.cleanup()


def _hub(workdir: Path, influx: InfluxDB, gateway: str) -> tuple[HubProcess, str]:
    workdir.mkdir(exist_ok=True)
    hub = HubProcess(workdir, f"""
[telemetry]
kind = "influxdb"
url = "{influx.url}"
database = "bp"
timeout_s = 10
max_retries = 5
[ingest]
store_deadline_s = {DEADLINE_S}
retry_after_s = {RETRY_AFTER_S}
""")
    cli = Path(sys.executable).parent / "siaga-hub"
    token = subprocess.run([str(cli), "gateway", "add", gateway, "--config", str(hub.config)],
                           check=True, capture_output=True, text=True).stdout.strip()
    return hub.start(), token


def _signal(influx: InfluxDB, sig: signal.Signals) -> None:
    """Send ``sig``; for SIGSTOP, return only once influxd has stopped.

    kill() returns once the stop is queued, and the kernel wakes one of influxd's threads to
    carry it out; the others keep running until that thread gets a CPU and stops them. On a
    busy machine a request sent right after kill() was then still answered (measured under
    load: threads still running right after kill() in 126 of 200 tries, the write answered
    in 2), and the abandoned-write test saw no timeout. The parent learns that the whole
    group has stopped through waitpid(WUNTRACED)."""
    assert influx.proc is not None
    os.kill(influx.proc.pid, sig)
    if sig is signal.SIGSTOP:
        _, status = os.waitpid(influx.proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), status


def _count(influx: InfluxDB) -> int:
    q = urllib.parse.urlencode({"db": "bp", "q": "SELECT COUNT(value) FROM reading"})
    with urllib.request.urlopen(f"{influx.url}/query?{q}", timeout=10) as r:
        series = json.loads(r.read())["results"][0].get("series")
    return 0 if not series else int(series[0]["values"][0][1])


def test_a_stalled_or_dead_influxd_is_answered_503_with_retry_after_in_time(
        tmp_path: Path, influxd: InfluxDB) -> None:
    gw = "gw-bumiaji-01"
    hub, token = _hub(tmp_path, influxd, gw)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        r = httpx.post(f"{hub.url}/api/v1/ingest", json=make_batch(3), headers=auth, timeout=30)
        assert r.status_code == 200, r.text
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            _signal(influxd, sig)
            started = time.monotonic()
            r = httpx.post(f"{hub.url}/api/v1/ingest", json=make_batch(3, first_id=10),
                           headers=auth, timeout=GATEWAY_TIMEOUT_S)
            took = time.monotonic() - started
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == str(RETRY_AFTER_S)
            assert took < GATEWAY_TIMEOUT_S
            if sig is signal.SIGSTOP:
                assert took >= DEADLINE_S - 0.5  # it waited for the store, then gave up
                assert "store_deadline_s" in r.json()["detail"]
                _signal(influxd, signal.SIGCONT)
                r = httpx.post(f"{hub.url}/api/v1/ingest", json=make_batch(3, first_id=10),
                               headers=auth, timeout=30)
                assert r.status_code == 200, r.text
        assert httpx.get(f"{hub.url}/healthz", timeout=10).status_code == 503  # influxd gone
    finally:
        hub.stop()


def test_the_gateway_backs_off_on_503_and_delivers_everything_after(
        tmp_path: Path, influxd: InfluxDB) -> None:
    gw = "gw-backpressure"
    hub, token = _hub(tmp_path / "hub", influxd, gw)
    buffer = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "buffer.sqlite3")))
    buffer.append([reading(i) for i in range(300)], [])
    up = HttpUplink(UplinkSettings(kind="http", gateway_id=gw, url=hub.url, token=token,
                                   batch_max_count=100, batch_max_age_s=0.1,
                                   backoff_min_s=0.1, backoff_max_s=0.5), buffer)
    try:
        _signal(influxd, signal.SIGSTOP)
        stalled = time.monotonic()
        up.start()
        assert wait_for(lambda: up.counters().send_errors >= 2, 30)
        time.sleep(4)
        stalled_s = time.monotonic() - stalled
        errors = up.counters().send_errors
        assert buffer.stats().depth == 300  # nothing acknowledged, nothing lost
        metrics = httpx.get(f"{hub.url}/metrics", timeout=10).text
        # the hub answered each attempt (503), the gateway did not time out
        assert f'siaga_ingest_batches_total{{transport="http",outcome="failed"}} {errors}' \
            in metrics
        # each attempt waited for the deadline, then at least Retry-After (not backoff_max 0.5)
        assert errors <= stalled_s / (DEADLINE_S + RETRY_AFTER_S) + 1
        _signal(influxd, signal.SIGCONT)
        assert wait_for(lambda: buffer.stats().depth == 0, 60), (buffer.stats(), up.counters())
    finally:
        up.stop()
        buffer.close()
        hub.stop()
    assert _count(influxd) == 300


class _Relay:
    """A TCP relay between the store and influxd: counts the store's write requests and the
    connections carrying one that the store closed (what an abandoned request does)."""

    def __init__(self, influx: InfluxDB) -> None:
        self.influx = influx
        self.streams: list[bytearray] = []  # what the store sent, per connection
        self.closed_writes = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    @property
    def writes_started(self) -> int:
        return sum(sent.count(b"POST /write?") for sent in self.streams)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.influx.port)
        sent = bytearray()
        self.streams.append(sent)

        async def answers() -> None:
            while data := await up_reader.read(65_536):
                writer.write(data)
                await writer.drain()
            writer.close()

        back = asyncio.create_task(answers())
        try:
            while data := await reader.read(65_536):
                sent += data
                up_writer.write(data)
                await up_writer.drain()
            if b"POST /write?" in sent:
                self.closed_writes += 1
        except ConnectionError:
            pass
        finally:
            back.cancel()
            up_writer.close()
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.mark.anyio
async def test_a_write_abandoned_by_its_caller_is_cancelled_and_never_retried(
        influxd: InfluxDB) -> None:
    relay = _Relay(influxd)
    store = InfluxStore(TelemetrySettings(
        kind="influxdb", url=await relay.start(), database=f"a_{uuid.uuid4().hex[:8]}",
        timeout_s=10, max_retries=5, retry_backoff_s=0.1))
    await store.start()
    try:
        _signal(influxd, signal.SIGSTOP)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(store.write_readings("gw", [uplink_reading(1)]), 1.0)
        await asyncio.sleep(3.0)  # past a retry backoff: nothing more may start
        assert relay.writes_started == 1
        assert relay.closed_writes == 1  # the request in flight was dropped, not waited out
        _signal(influxd, signal.SIGCONT)
        assert await store.write_readings("gw", [uplink_reading(2)]) == 1
    finally:
        _signal(influxd, signal.SIGCONT)
        await store.close()
        relay.close()
