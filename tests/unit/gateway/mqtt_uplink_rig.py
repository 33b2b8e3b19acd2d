"""The MQTT uplink's rig for unit tests: the real ``MqttUplink`` over a real buffer, connected
to a fake link, its thread never started (the test is the thread), under a fake clock.

A fake link and a fake clock, not Mosquitto and the hub: the window and resend cases need a
batch the hub never acks, acks that come late by exactly so much, and a clock that jumps a
30 s ack timeout at once; the real parts run in tests/integration/uplink/. ``clock`` and
``rig`` are fixtures (tests/unit/gateway/conftest.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.uplink import Ack
from siaga.firmware_bridge.vocabulary import Level
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.uplink import mqtt_uplink, worker
from siaga.gateway.uplink.mqtt_uplink import MqttUplink
from siaga.gateway.uplink.settings import UplinkSettings

TIMEOUT = 30.0
BACKOFF_MIN = 1.0  # uplink.backoff_min_s's default: the first wait of a backoff, exactly


class FakeLink:
    """Records the data topic's publishes (batch ids, in order); everything else is a no-op."""

    restarts = 0
    pid = None

    def __init__(self) -> None:
        self.sent: list[str] = []

    def publish(self, topic: str, body: bytes, retain: bool = False) -> None:
        if topic.endswith("/data"):
            self.sent.append(json.loads(body)["batch"])

    def subscribe(self, topic: str) -> None: ...
    def open(self) -> None: ...
    def close(self, *args: object) -> None: ...


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def reading(seq: int) -> Reading:
    return Reading(node="slope-07", channel="vwc", value=31.5, unit="%", ts=1_795_000_000 + seq,
                   received_at=1_795_000_000.05 + seq, seq=seq, source="serial:/dev/pts/3")


def alert(n: int) -> Alert:
    return Alert(node="slope-07", hazard="landslide", level=Level.SIAGA,
                 previous_level=Level.WASPADA, detector="landslide", ts=1_795_000_000 + n,
                 explanation_id="Hujan 3 jam 78 mm", explanation_en="3 h rain 78 mm",
                 site="bumiaji-slope", channel="rain", values={"rain_3h_mm": 78.0})


class Rig:
    """An MqttUplink, connected, its thread never started: the test is the thread."""

    def __init__(self, path: Path, clock: Clock, *, floor: int = 5, ceiling: int = 5,
                 max_entries: int = 0, max_inflight: int = 4) -> None:
        self.clock = clock
        self.buffer = StoreAndForwardBuffer(BufferSettings(path=str(path)))
        self.uplink = MqttUplink(
            UplinkSettings(kind="mqtt", gateway_id="gw-t", host="127.0.0.1",
                           batch_max_count=floor, batch_ceiling_count=ceiling,
                           batch_max_age_s=0, max_inflight=max_inflight, ack_timeout_s=TIMEOUT,
                           max_inflight_entries=max_entries),
            self.buffer)
        self.link = FakeLink()
        self.uplink._link = self.link  # type: ignore[assignment]
        self.uplink._connected = True
        self.policy = self.uplink._policy  # the batches in flight and the rules for them
        self.seq = 0

    def add(self, readings: int = 0, alerts: int = 0) -> None:
        self.buffer.append([reading(self.seq + i) for i in range(readings)],
                           [alert(self.seq + i) for i in range(alerts)])
        self.seq += readings + alerts

    def at(self, t: float) -> None:
        self.clock.now = 1000.0 + t

    def ack(self, batch_id: str) -> None:
        self.uplink._settle(Ack(batch_id, "stored"))

    def relink(self, *, new_sender: bool = False) -> None:
        """The link is back (with ``new_sender``: a new sender process, all it had is lost)."""
        self.uplink._relinked(self.clock.now, new_sender)

    def grown_once(self) -> None:
        """A backlog of 200 readings, its first full batches sent and acked in time a second
        later: the count has doubled once (5 -> 10 at the defaults)."""
        self.add(readings=200)
        first = self.run_pass()
        self.at(1)
        for batch_id in first:
            self.ack(batch_id)

    def run_pass(self) -> list[str]:
        """What one pass of the thread publishes (after its acks)."""
        before = len(self.link.sent)
        self.uplink._rearmed = False
        self.uplink._log_held_long(self.clock.now)
        self.uplink._resend_overdue(self.clock.now)
        self.uplink._send_due()
        return self.link.sent[before:]

    def deadline(self) -> float:
        with self.uplink._cond:
            return self.uplink._deadline(self.clock.now, math.inf)

    def wanted(self) -> bool:
        """Whether the thread wakes for a batch (not for the re-arm it already had)."""
        self.uplink._rearmed = False
        with self.uplink._cond:
            return self.uplink._wanted()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    fake_time = SimpleNamespace(monotonic=c.monotonic)
    monkeypatch.setattr(mqtt_uplink, "time", fake_time)
    monkeypatch.setattr(worker, "time", fake_time)
    return c


@pytest.fixture
def rig(tmp_path: Path, clock: Clock) -> Iterator[Rig]:
    r = Rig(tmp_path / "b.sqlite3", clock)
    yield r
    r.buffer.close()
