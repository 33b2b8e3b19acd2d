"""Two real ``siaga-hub serve`` processes on one PostgreSQL: one hub to their clients.

An SSE client of process B hears the incident a gateway's alert opened through process A, and
A replays it under the same event id; a registry edit through A is served by B; exactly one process
holds the scheduler lease, and when it dies the other takes it over; failed logins and citizen
reports spread over both processes meet one limit (the counts are in the database); readings
stored through A are B's to query (``[telemetry] kind = "postgresql"``).
"""

from __future__ import annotations

import time

import httpx
import pytest

from siaga.simulators.servers import HubProcess
from tests.sse_client import add_gateway, alerts_batch, live_stream, staff_headers, take

pytestmark = pytest.mark.integration


def _leaders(hubs: list[HubProcess]) -> list[int]:
    out = []
    for hub in hubs:
        text = httpx.get(f"{hub.url}/metrics").text
        line = next(x for x in text.splitlines() if x.startswith("siaga_cluster_leader "))
        out.append(int(float(line.split()[1])))
    return out


def test_an_event_opened_through_one_process_reaches_the_other_s_stream(
        shared_hubs: list[HubProcess]) -> None:
    a, b = shared_hubs
    token = add_gateway(a, "gw-cluster")
    with live_stream(b, staff_headers(b)) as stream:
        r = httpx.post(f"{a.url}/api/v1/ingest", headers={"Authorization": f"Bearer {token}"},
                       json=alerts_batch("gw-cluster", ["lereng-1"], "gw-cluster:1-1"))
        assert r.status_code == 200, r.text
        [opened] = take(stream, 1)
    assert opened.id >= 1
    # Reconnecting to A with the id before it replays that same event: the ids are the
    # cluster's, not each process's.
    with live_stream(a, staff_headers(a), last_event_id=opened.id - 1) as again:
        [replayed] = take(again, 1)
    assert (replayed.id, replayed.data["incident"]) == (opened.id, opened.data["incident"])


def test_a_registry_edit_through_one_process_is_served_by_the_other(
        shared_hubs: list[HubProcess]) -> None:
    a, b = shared_hubs
    site = {"name": "Pasar Batu", "lat": -7.87, "lon": 112.52, "desa": "Sisir",
            "kecamatan": "Batu"}
    r = httpx.put(f"{a.url}/api/v1/registry/sites/pasar-batu", json=site, headers=staff_headers(a))
    assert r.status_code in (200, 201), r.text
    deadline = time.monotonic() + 10
    while True:
        got = httpx.get(f"{b.url}/api/v1/registry/sites", headers=staff_headers(b))
        if any(s["id"] == "pasar-batu" for s in got.json()):
            break
        assert time.monotonic() < deadline, got.text
        time.sleep(0.2)


def test_exactly_one_process_runs_the_scheduler_and_the_other_takes_over(
        two_hubs: list[HubProcess]) -> None:
    deadline = time.monotonic() + 10
    while sum(_leaders(two_hubs)) != 1:
        assert time.monotonic() < deadline, _leaders(two_hubs)
        time.sleep(0.2)
    leader, other = sorted(two_hubs, key=lambda h: -_leaders([h])[0])
    assert leader.proc is not None
    leader.proc.kill()  # no goodbye: the lease must die with the connection
    leader.proc.wait()
    deadline = time.monotonic() + 15
    while _leaders([other]) != [1]:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_failures_spread_over_both_processes_meet_one_limit(two_hubs: list[HubProcess]) -> None:
    a, b = two_hubs
    # Random usernames: only the per-address throttle (4 failures) can stop them.
    answers = [httpx.post(f"{hub.url}/api/v1/auth/token",
                          json={"username": f"tamu{i}", "password": "salah"}).status_code
               for i, hub in enumerate([a, b, a, b, a, b])]
    assert answers == [401, 401, 401, 401, 429, 429]
    report = {"lat": -7.8375, "lon": 112.5361, "hazard": "flood", "text": "air naik"}
    answers = [httpx.post(f"{hub.url}/api/v1/reports", json=report).status_code
               for hub in [b, a, b, a, b]]
    assert all(200 <= code < 300 for code in answers[:3]), answers
    assert answers[3:] == [429, 429]


def test_readings_stored_through_one_process_are_queried_through_the_other(
        shared_hubs: list[HubProcess]) -> None:
    a, b = shared_hubs
    token = add_gateway(a, "gw-cluster-readings")
    now = int(time.time() * 1000)
    readings = [{"id": i + 1, "node": "lereng-7", "channel": "vwc", "value": 30.0 + i, "unit": "%",
                 "ts": now - (5 - i) * 60_000, "rx": now, "seq": i + 1, "src": "serial:/dev/ttyS0"}
                for i in range(5)]
    batch = {"v": 1, "gateway": "gw-cluster-readings", "batch": "gw-cluster-readings:1-5",
             "sent_at": now, "readings": readings, "alerts": []}
    for hub in (a, b):  # the resend through the other process stores nothing twice
        r = httpx.post(f"{hub.url}/api/v1/ingest", headers={"Authorization": f"Bearer {token}"},
                       json=batch, timeout=30)
        assert r.status_code == 200, r.text
    headers = staff_headers(b)
    got = httpx.get(f"{b.url}/api/v1/nodes/lereng-7/readings", headers=headers, timeout=30,
                    params={"channel": "vwc", "from": now - 3_600_000, "to": now + 1}).json()
    assert [p["value"] for p in got["readings"]] == [30.0, 31.0, 32.0, 33.0, 34.0], got
    latest = httpx.get(f"{b.url}/api/v1/nodes/lereng-7/latest", headers=headers, timeout=30)
    assert [(c["channel"], c["value"]) for c in latest.json()["channels"]] == [("vwc", 34.0)]
