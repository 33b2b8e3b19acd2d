"""Two real ``siaga-hub serve`` processes on one PostgreSQL: one hub to their clients.

An SSE client of process B hears the incident a citizen report opened through process A, with
the same event id in both; a registry edit through A is served by B; exactly one process
holds the scheduler lease, and when it dies the other takes it over.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from siaga.simulators.servers import HubProcess, PostgreSQL

pytestmark = pytest.mark.integration

HUB = str(Path(sys.executable).parent / "siaga-hub")
PASSWORD = "kata-sandi-admin"


@pytest.fixture
def two_hubs(postgres: PostgreSQL, tmp_path: Path) -> Iterator[list[HubProcess]]:
    url = postgres.create_database()
    # HubProcess writes the [database] header (and an SQLite path the url overrides).
    toml = f'url = "{url}"\n[incidents]\ncheck_interval_s = 1\n'
    hubs = []
    for name in ("a", "b"):
        work = tmp_path / name
        work.mkdir()
        hubs.append(HubProcess(work, toml=toml))
    subprocess.run([HUB, "user", "add", "root", "--agency", "BPBD", "--role", "admin",
                    "--password-stdin", "--config", str(hubs[0].config)],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    for hub in hubs:
        hub.start()
    yield hubs
    for hub in hubs:
        hub.stop()


def _token(hub: HubProcess) -> dict[str, str]:
    r = httpx.post(f"{hub.url}/api/v1/auth/token", json={"username": "root",
                                                          "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _first_incident_event(lines: Iterator[str]) -> tuple[str, dict[str, object]]:
    event_id = ""
    for line in lines:
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data = json.loads(line[5:])
            if str(data.get("type", "")).startswith("incident."):
                return event_id, data
    raise AssertionError("stream ended")


def _leaders(hubs: list[HubProcess]) -> list[int]:
    out = []
    for hub in hubs:
        text = httpx.get(f"{hub.url}/metrics").text
        line = next(x for x in text.splitlines() if x.startswith("siaga_cluster_leader "))
        out.append(int(float(line.split()[1])))
    return out


def test_an_event_opened_through_one_process_reaches_the_other_s_stream(
        two_hubs: list[HubProcess]) -> None:
    a, b = two_hubs
    headers = _token(b)
    with httpx.Client(timeout=20) as client, \
            client.stream("GET", f"{b.url}/api/v1/stream", headers=headers) as stream:
        r = client.post(f"{a.url}/api/v1/reports", json={
            "lat": -7.8375, "lon": 112.5361, "hazard": "flood", "text": "air naik"})
        assert r.status_code in (200, 201), r.text
        event_id, data = _first_incident_event(stream.iter_lines())
    assert data["type"] == "incident.opened"
    assert int(event_id) >= 1
    # Reconnecting to A with that id replays nothing older: the ids are the cluster's.
    with httpx.Client(timeout=5) as client, client.stream(
            "GET", f"{a.url}/api/v1/stream",
            headers={**_token(a), "Last-Event-ID": str(int(event_id) - 1)}) as again:
        replay_id, replayed = _first_incident_event(again.iter_lines())
    assert (replay_id, replayed["type"]) == (event_id, "incident.opened")


def test_a_registry_edit_through_one_process_is_served_by_the_other(
        two_hubs: list[HubProcess]) -> None:
    a, b = two_hubs
    site = {"name": "Pasar Batu", "lat": -7.87, "lon": 112.52, "desa": "Sisir",
            "kecamatan": "Batu"}
    r = httpx.put(f"{a.url}/api/v1/registry/sites/pasar-batu", json=site, headers=_token(a))
    assert r.status_code in (200, 201), r.text
    deadline = time.monotonic() + 10
    while True:
        got = httpx.get(f"{b.url}/api/v1/registry/sites", headers=_token(b))
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
