"""The PostgreSQL server restarted under ingest load (issue 16, "Failure tests"): a real hub
on PostgreSQL, the gateway's own buffer and HTTP uplink feeding it ~400 readings/s and an
alert (a new site) every 0.5 s; the server is stopped ("fast" shutdown) for 4 s. Alert
batches are answered 503 + Retry-After meanwhile, the gateway backs off and keeps everything,
and afterwards every reading is stored exactly once and every alert has its incident. ~25 s.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
import psycopg

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.vocabulary import Level
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.uplink.http_uplink import HttpUplink
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.servers import HubProcess, PostgreSQL
from tests.integration.gateway.hub_stand_in import wait_for
from tests.integration.uplink.test_uplink_mqtt import reading
from tests.sse_client import add_gateway

GW = "gw-pg-restart"


def test_a_postgres_restart_under_ingest_is_answered_503_and_everything_lands(
        tmp_path: Path) -> None:
    pg = PostgreSQL().start()  # its own server: the session's is shared by other tests
    url = pg.create_database()
    # A pool that waits 1 s for the server, not 10: the restart below (4 s) is then answered
    # 503 instead of being ridden out by slow answers.
    hub = HubProcess(tmp_path, toml=f'url = "{url}"\nconnect_timeout_s = 1\n')
    token = add_gateway(hub, GW)
    buffer = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "buffer.sqlite3")))
    up = HttpUplink(UplinkSettings(kind="http", gateway_id=GW, url=hub.url, token=token,
                                   batch_max_count=200, batch_max_age_s=0.1,
                                   backoff_min_s=0.1, backoff_max_s=0.5), buffer)
    readings = alerts = 0

    def restart() -> None:
        pg.stop()  # "fast" shutdown: every session ends, as a service restart does
        time.sleep(4)
        pg.start()

    restarter = threading.Timer(2.0, restart)
    try:
        hub.start()
        up.start()
        restarter.start()
        for step in range(160):  # ~8 s: 400 readings/s and an alert (a new site) every 0.5 s
            batch = [reading(readings + i, node=f"slope-{i % 4:02d}") for i in range(20)]
            new_alerts = [_alert(alerts)] if step % 10 == 0 else []
            buffer.append(batch, new_alerts)
            readings += len(batch)
            alerts += len(new_alerts)
            time.sleep(0.05)
        restarter.join()
        assert wait_for(lambda: buffer.stats().depth == 0, 30), (
            buffer.stats(), up.counters())
        metrics = httpx.get(f"{hub.url}/metrics", timeout=10).text
    finally:
        restarter.join()
        up.stop()
        buffer.close()
        hub.stop()
    try:
        assert up.counters().send_errors >= 1  # the gateway met the outage ...
        assert 'siaga_ingest_batches_total{transport="http",outcome="failed"}' in metrics
        with sqlite3.connect(tmp_path / "siaga-telemetry.sqlite3") as telemetry:
            stored = telemetry.execute("SELECT COUNT(*) FROM reading").fetchone()[0]
        assert stored == readings  # ... and everything landed, once
        with psycopg.connect(url) as conn:
            opened = conn.execute("SELECT COUNT(DISTINCT site) FROM incidents").fetchone()
        assert opened == (alerts,)
    finally:
        pg.cleanup()


def _alert(n: int) -> Alert:
    return Alert(node=f"slope-{n % 4:02d}", hazard="landslide", level=Level.SIAGA,
                 previous_level=Level.WASPADA, detector="landslide", ts=time.time() - 1,
                 explanation_id="Tanah bergerak", explanation_en="Ground moving",
                 site=f"lereng-pg-{n:03d}")
