"""The gateway's health snapshot, sent every ``heartbeat.interval_s`` by the uplink.

Body (docs/uplink.md, "Heartbeat"): uptime, buffer depth and oldest age, loss,
nodes seen with their last-seen times (a snapshot the core thread hands over),
CPU temperature from /sys/class/thermal and free disk where the machine tells.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from annotated_types import Ge, doc

from siaga.firmware_bridge.uplink import UPLINK_VERSION, BufferHealth, Heartbeat, NodeHealth
from siaga.firmware_bridge.uplink_codec import encode
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_rows import now_ms

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


@dataclass(frozen=True, slots=True)
class HeartbeatSettings:
    """How often the gateway tells the hub it is alive."""

    interval_s: Annotated[float, Ge(1), doc("Seconds between heartbeats")] = 30.0


@dataclass(frozen=True, slots=True)
class NodeSeen:
    """What the core knows of one node; handed over as an immutable snapshot."""

    last_seen_ms: int | None
    frames_ok: int = 0
    gaps: int = 0
    clock_offset_s: float | None = None


NodesSnapshot = Callable[[], Mapping[str, NodeSeen]]


def cpu_temp_c(zone: Path = THERMAL_ZONE) -> float | None:
    """The SoC temperature (a Pi reports millidegrees); None where there is no sensor."""
    try:
        return round(int(zone.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def disk_free_bytes(path: str) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


class HealthSnapshot:
    """Builds heartbeat bodies; safe to call from the uplink thread."""

    def __init__(
        self, gateway_id: str, buffer: StoreAndForwardBuffer,
        nodes: NodesSnapshot | None = None, thermal_zone: Path = THERMAL_ZONE,
    ) -> None:
        self.gateway_id = gateway_id
        self._buffer = buffer
        self._nodes = nodes or dict
        self._thermal_zone = thermal_zone
        self._started = time.monotonic()

    def heartbeat(self) -> Heartbeat:
        at = now_ms()
        stats = self._buffer.stats()
        oldest = stats.oldest_enqueued_ms
        return Heartbeat(
            v=UPLINK_VERSION,
            gateway=self.gateway_id,
            ts=at,
            uptime_s=round(time.monotonic() - self._started, 1),
            buffer=BufferHealth(
                depth=stats.depth,
                alerts=stats.alerts,
                oldest_age_s=None if oldest is None else max(0.0, (at - oldest) / 1000),
                dropped_readings=stats.dropped_readings,
                bytes=max(0, stats.bytes),
            ),
            nodes={
                name: NodeHealth(last_seen=n.last_seen_ms, frames_ok=n.frames_ok, gaps=n.gaps,
                                 clock_offset_s=n.clock_offset_s)
                for name, n in self._nodes().items()
            },
            cpu_temp_c=cpu_temp_c(self._thermal_zone),
            disk_free_bytes=disk_free_bytes(os.path.dirname(self._buffer.settings.path) or "."),
        )

    def encode(self) -> bytes:
        return encode(self.heartbeat())
