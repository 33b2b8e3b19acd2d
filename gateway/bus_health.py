"""Per-device bus health of polled sensors (Modbus, SDI-12): errors counted by kind, a
sensor_fault alert after N failed polls in a row.

Pure: the poller reports each poll's outcome with the time; this says when the
device's level changes. ``alert_after`` failed polls in a row (timeouts, CRC errors,
exception answers, a bus that cannot be opened) raise ``health:bus`` to Siaga (the
device is gone as far as Siaga can tell); the next good answer brings it back to
Normal with a second alert. Single failures only count: RS-485 lines drop a frame
now and then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.vocabulary import Level

BusErrorKind = Literal["timeout", "crc", "exception", "no_connection"]
BUS_ERROR_KINDS: tuple[BusErrorKind, ...] = ("timeout", "crc", "exception", "no_connection")
DETECTOR = "health:bus"


@dataclass(frozen=True, slots=True)
class BusError:
    """Why one request failed: the kind, and what the bus said (an exception code...)."""

    kind: BusErrorKind
    detail: str


@dataclass(slots=True)
class DeviceHealth:
    node: str
    source: str
    alert_after: int
    polls: int = 0
    ok: int = 0
    timeouts: int = 0
    crc_errors: int = 0
    exceptions: int = 0
    no_connection: int = 0
    consecutive: int = 0
    down: bool = False
    last_error: str = ""

    def success(self, ts: float) -> Alert | None:
        self.polls += 1
        self.ok += 1
        self.consecutive = 0
        if not self.down:
            return None
        self.down = False
        return self._alert(Level.NORMAL, Level.SIAGA, ts,
                           f"Perangkat {self.node} menjawab lagi di {self.source}",
                           f"Device {self.node} answers again on {self.source}")

    def failure(self, error: BusError, ts: float) -> Alert | None:
        self.polls += 1
        self.consecutive += 1
        self.last_error = f"{error.kind}: {error.detail}"
        if error.kind == "timeout":
            self.timeouts += 1
        elif error.kind == "crc":
            self.crc_errors += 1
        elif error.kind == "exception":
            self.exceptions += 1
        else:
            self.no_connection += 1
        if self.down or self.consecutive < self.alert_after:
            return None
        self.down = True
        n = self.consecutive
        return self._alert(Level.SIAGA, Level.NORMAL, ts,
                           f"Perangkat {self.node} di {self.source} gagal {n} kali "
                           f"berturut-turut ({self.last_error})",
                           f"Device {self.node} on {self.source} failed {n} polls in a row "
                           f"({self.last_error})")

    def _alert(self, level: Level, previous: Level, ts: float, text_id: str,
               text_en: str) -> Alert:
        return Alert(
            node=self.node, hazard="sensor_fault", level=level, previous_level=previous,
            detector=DETECTOR, ts=ts, explanation_id=text_id, explanation_en=text_en,
            values={"consecutive_failures": float(self.consecutive)},
            thresholds={"alert_after": float(self.alert_after)},
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "polls": self.polls, "ok": self.ok, "timeouts": self.timeouts,
            "crc_errors": self.crc_errors, "exceptions": self.exceptions,
            "no_connection": self.no_connection, "consecutive_failures": self.consecutive,
            "down": self.down, "last_error": self.last_error,
        }
