"""A blocking client of a real hub's live stream and gateway ingest, for tests that start
``siaga-hub serve`` processes (HubProcess) and restart or kill them between events."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from siaga.simulators.servers import HubProcess

HUB_CLI = str(Path(sys.executable).parent / "siaga-hub")
PASSWORD = "kata-sandi-admin"


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE event: its ``id:`` (0 when it has none) and its JSON data."""

    id: int
    data: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.data.get("type", ""))


def add_admin(hub: HubProcess) -> None:
    subprocess.run([HUB_CLI, "user", "add", "root", "--agency", "BPBD", "--role", "admin",
                    "--password-stdin", "--config", str(hub.config)],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True)


def add_gateway(hub: HubProcess, gateway: str) -> str:
    """The gateway's new token (written to the hub's database by the CLI)."""
    return subprocess.run([HUB_CLI, "gateway", "add", gateway, "--config", str(hub.config)],
                          check=True, capture_output=True, text=True).stdout.strip()


def staff_headers(hub: HubProcess) -> dict[str, str]:
    r = httpx.post(f"{hub.url}/api/v1/auth/token",
                   json={"username": "root", "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def alerts_batch(gateway: str, sites: list[str], batch: str,
                 first_id: int = 1) -> dict[str, object]:
    """A batch of Siaga-level landslide alerts, one per site (so one new incident each),
    numbered from ``first_id`` as the gateway's buffer rows would be."""
    now_ms = int(time.time() * 1000)
    alerts = [{"id": first_id + i, "node": f"{site}-n", "site": site, "hazard": "landslide",
               "level": 3, "previous_level": 1, "detector": "landslide", "ts": now_ms - 100 + i,
               "explanation": f"tanah bergerak di {site}", "explanation_en": f"moving at {site}"}
              for i, site in enumerate(sites)]
    return {"v": 1, "gateway": gateway, "batch": batch, "sent_at": now_ms, "alerts": alerts}


def frames(lines: Iterator[str], deadline: float) -> Iterator[Frame]:
    """The data-carrying events of an SSE body (comments and ``retry:`` skipped), failing once
    ``deadline`` (monotonic) passes: run the hub with a short ``live.keepalive_s`` so an idle
    stream still gets here."""
    event_id = 0
    for line in lines:
        if time.monotonic() > deadline:
            raise AssertionError("no awaited event before the deadline")
        if line.startswith("id:"):
            event_id = int(line[3:].strip())
        elif line.startswith("data:"):
            yield Frame(event_id, json.loads(line[5:]))
        elif line == "":
            event_id = 0


@contextmanager
def live_stream(hub: HubProcess, headers: dict[str, str], last_event_id: int | None = None,
                within_s: float = 20.0) -> Iterator[Iterator[Frame]]:
    """The stream's events; reading them fails after ``within_s`` seconds."""
    extra = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    with httpx.Client(timeout=within_s) as client, client.stream(
            "GET", f"{hub.url}/api/v1/stream", headers={**headers, **extra}) as response:
        response.raise_for_status()
        yield frames(response.iter_lines(), time.monotonic() + within_s)


def take(stream: Iterator[Frame], n: int, kind: str = "incident.opened") -> list[Frame]:
    """The next ``n`` events of type ``kind`` (any ``stream.*`` control event fails)."""
    got: list[Frame] = []
    for frame in stream:
        assert not frame.type.startswith("stream."), frame
        if frame.type == kind:
            got.append(frame)
            if len(got) == n:
                return got
    raise AssertionError(f"the stream ended after {len(got)} of {n} {kind} events")


def site_of(frame: Frame) -> str:
    return str(frame.data["incident"]["site"])
