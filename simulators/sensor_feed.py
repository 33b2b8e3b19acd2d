"""A scenario's physics into simulated Modbus and SDI-12 sensors: each data message of a
node the line serves becomes that device's values, paced by simulated time.

A generic Modbus probe measures more than the scenario's node sends: a soil probe's
temperature and conductivity, a second tilt axis, a river level. Those are filled from
what the node does send (``extra_values``), so every register of a shipped map holds
something plausible and moves with the scenario.
"""

from __future__ import annotations

import threading
import time

from siaga.simulators.pacing import SimClock
from siaga.simulators.scenario import Scenario
from siaga.simulators.sensor_line import SensorLine


def extra_values(values: dict[str, float]) -> dict[str, float]:
    """Channels a Modbus probe has and the scenario's node lacks, from what it has."""
    out: dict[str, float] = {}
    vwc = values.get("vwc")
    if vwc is not None:
        out["ec"] = round(120.0 + 14.0 * vwc)  # wetter soil conducts better
        out.setdefault("temp", 21.5)
    if "tilt" in values:
        out["tilt_y"] = round(values["tilt"] * 0.4, 3)
    out["level"] = 0.85
    return out


class ScenarioFeed(threading.Thread):
    """Plays ``scenario`` at ``speed`` into ``line`` until the scenario ends or ``stop``."""

    def __init__(self, scenario: Scenario, line: SensorLine, speed: float,
                 stop: threading.Event) -> None:
        super().__init__(name="sim-modbus-feed", daemon=True)
        self.scenario = scenario
        self.line = line
        self.speed = speed
        self._stop_event = stop
        self.updates = 0

    def run(self) -> None:
        served = self.line.nodes
        clock = SimClock(self.scenario.start_ts, self.speed)
        for message in self.scenario.messages():
            if message.node not in served or message.type != "D":
                continue
            wait = clock.deadline(message.ts) - time.monotonic()
            if wait > 0 and self._stop_event.wait(wait):
                return
            values = {k: float(v) for k, v in message.fields.items()
                      if k != "up" and isinstance(v, int | float)}
            self.line.set_values(message.node, {**extra_values(values), **values})
            self.updates += 1
