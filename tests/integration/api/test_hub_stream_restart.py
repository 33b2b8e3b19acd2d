"""Live-stream ids survive a restart of a real ``siaga-hub serve`` on SQLite (issue 12 case 7).

Before, ids restarted at 1 in each process: a client resuming with ``Last-Event-ID: 3`` after
a restart never got the events the old process published while it was away, and skipped the
new process's events 1-3. Now ids come from the ``live_events`` table and the replay ring is
filled from it at start. A ``Last-Event-ID`` older than the ring gets ``stream.reload``.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from siaga.simulators.servers import HubProcess
from tests.sse_client import (
    add_admin,
    add_gateway,
    alerts_batch,
    live_stream,
    site_of,
    staff_headers,
    take,
)

GATEWAY = "gw-restart"


def test_a_client_resuming_after_a_hub_restart_gets_every_later_event(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path, "[live]\nreplay = 5\nkeepalive_s = 1\n")
    add_admin(hub)
    token = {"Authorization": f"Bearer {add_gateway(hub, GATEWAY)}"}

    def ingest(sites: list[str], batch: str) -> None:
        r = httpx.post(f"{hub.url}/api/v1/ingest", json=alerts_batch(GATEWAY, sites, batch),
                       headers=token, timeout=30)
        assert r.status_code == 200 and not r.json().get("rejected_items"), r.text

    hub.start()
    try:
        with live_stream(hub, staff_headers(hub)) as stream:
            ingest(["s0", "s1", "s2"], f"{GATEWAY}:1-3")
            seen = take(stream, 3)
        last = seen[-1].id
        ingest(["s3", "s4"], f"{GATEWAY}:4-5")  # published while the client is away
        hub.stop()
        hub.start()
        ingest(["s5", "s6"], f"{GATEWAY}:6-7")
        with live_stream(hub, staff_headers(hub), last_event_id=last) as stream:
            resumed = take(stream, 4)
        with live_stream(hub, staff_headers(hub), last_event_id=1) as stream:
            told = next(stream)  # id 2 is no longer in the 5-event ring
    finally:
        hub.stop()

    assert [site_of(f) for f in seen] == ["s0", "s1", "s2"]
    assert [site_of(f) for f in resumed] == ["s3", "s4", "s5", "s6"]
    ids = [f.id for f in seen + resumed]
    assert ids == sorted(set(ids)) and resumed[0].id > last
    assert told.type == "stream.reload" and told.id == 0
    assert told.data["last_event_id"] == 1
