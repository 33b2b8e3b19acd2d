"""A node's backlog raises the same alerts, at the same times, as the same readings live.

Over a real Mosquitto, through a whole in-process gateway. The gateway's wall clock
(its receive times) is driven by the test: "live" sets it to each reading's node time
before publishing it, so 4 hours of storm take seconds; "backlog" sends the first
reading live and then the rest all at once, minutes or hours after their time, as a
node that was offline flushes its store; "live_first" sends the newest reading before
the stored ones, as a node that reports its current value on reconnecting.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from siaga.gateway.config import load_settings
from siaga.gateway.runtime import GatewayRuntime
from siaga.simulators.servers import Mosquitto
from tests.integration.gateway.gateway_harness import CapturedStdout
from tests.integration.gateway.test_gateway_mqtt import publish, publisher, wait_connected

pytestmark = pytest.mark.integration

T0 = 1_780_000_000.0  # storm start
STORM_STEP_S = 600.0
FIRE_T0 = T0 + 6 * 3600.0
FIRE_STEP_S = 10.0


class DrivenClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def storm() -> list[tuple[float, str, dict[str, float]]]:
    """A rain gauge (cumulative tips, 0.2 mm each): 4 hours at 6-12 mm per 10 minutes."""
    rows, tips = [], 1000
    for i in range(0, 4 * 6 + 1):
        rows.append((T0 + STORM_STEP_S * i, "gauge-1", {"rain": float(tips)}))
        tips += 30 + 30 * (i % 2)
    return rows


def fire() -> list[tuple[float, str, dict[str, float]]]:
    """Smoke 5 -> 800 ppm and temperature 28 -> 45 C over 5 minutes, every 10 s."""
    n = 31
    return [(FIRE_T0 + FIRE_STEP_S * i, "market-3",
             {"smoke": 5.0 + 795.0 * i / (n - 1), "temp": 28.0 + 17.0 * i / (n - 1)})
            for i in range(n)]


def start(tmp_path: Path, broker: Mosquitto, clock: DrivenClock) -> tuple[GatewayRuntime,
                                                                          CapturedStdout]:
    overrides = {
        "mqtt.host": broker.host, "mqtt.port": broker.port,
        "mqtt.client_id": f"gw-late-{uuid.uuid4().hex[:8]}",
        "output.stdout": True, "gateway.state_dir": str(tmp_path / "state"),
        "gateway.status_write_s": 0.2,
    }
    out = CapturedStdout()
    runtime = GatewayRuntime(load_settings(None, {}, overrides), out,  # type: ignore[arg-type]
                             clock=clock)
    runtime.start()
    return runtime, out


def send(dev: mqtt.Client, seqs: dict[str, int], ts: float, node: str,
         values: dict[str, float]) -> None:
    seqs[node] = seqs.get(node, 0) + 1
    publish(dev, f"siaga/node/{node}/up",
            {"seq": seqs[node], "ts": int(ts * 1000), "v": values})


Series = list[tuple[float, str, dict[str, float]]]


def run(tmp_path: Path, broker: Mosquitto, mode: str,
        plan: tuple[tuple[Series, float], ...] | None = None
        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    clock = DrivenClock(T0)
    runtime, out = start(tmp_path / mode, broker, clock)
    dev = publisher(broker)
    seqs: dict[str, int] = {}
    sent = 0
    try:
        wait_connected(runtime)
        for series, delay in plan or ((storm(), 600.0), (fire(), 360.0)):
            if mode == "live":
                for ts, node, values in series:
                    clock.now = ts + 0.2
                    send(dev, seqs, ts, node, values)
                    sent += len(values)
                    out.wait_for("reading", sent)
            elif mode == "live_first":  # back after a silence: now, then the stored ones
                for ts, node, values in [*series[:2], series[-1], *series[2:-1]]:
                    clock.now = max(clock.now, ts + 0.2)
                    send(dev, seqs, ts, node, values)
                    sent += len(values)
                    out.wait_for("reading", sent)
            else:
                (ts, node, values), *rest = series
                clock.now = ts + 0.2
                send(dev, seqs, ts, node, values)
                sent += len(values)
                out.wait_for("reading", sent)
                clock.now = rest[-1][0] + delay
                for ts, node, values in rest:
                    send(dev, seqs, ts, node, values)
                    sent += len(values)
                out.wait_for("reading", sent, timeout=30)
    finally:
        dev.loop_stop()
        runtime.stop()  # writes a last status file
    status = json.loads((tmp_path / mode / "state" / "status.json").read_text())
    hazards = [a for a in out.of_kind("alert") if a["hazard"] != "sensor_fault"]
    return hazards, [status, out.of_kind("reading")]


def key(a: dict[str, Any]) -> tuple[Any, ...]:
    return (a["node"], a["detector"], a["level"], a["ts"], tuple(a["channels"]))


def test_a_storm_and_a_fire_sent_late_raise_the_alerts_they_raise_live(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    live, (live_status, live_readings) = run(tmp_path, mosquitto, "live")
    late, (late_status, late_readings) = run(tmp_path, mosquitto, "backlog")
    assert [(a["node"], a["level"]) for a in live if a["level"] >= 3] == [
        ("gauge-1", 3), ("gauge-1", 4), ("market-3", 3), ("market-3", 4)]
    assert sorted(map(key, late)) == sorted(map(key, live))
    assert not any(a["late"] for a in live)
    assert all(a["late"] for a in late)
    # The backlog keeps its node time: late, never moved to its receive time.
    flushed = [r for r in late_readings if r["late"]]
    assert len(flushed) == len(late_readings) - 3  # all but the first of each node
    assert not any(r["clock_skewed"] for r in late_readings)
    assert [r["ts"] for r in late_readings] == [r["ts"] for r in live_readings]
    assert late_status["totals"]["late"] == len(flushed)
    assert late_status["totals"]["clock_skewed"] == 0
    assert abs(late_status["clock_offsets_s"]["gauge-1"]) < 1


def test_a_node_that_sends_its_live_reading_before_its_backlog_raises_the_live_alerts(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The reorder window (gateway/detection_order.py): before it, the backlog that came
    after the newer live reading was stored but never detected (``out_of_order``). Only
    the fire: a rain counter's backlog after a newer count is a counter reset."""
    plan = ((fire(), 0.0),)
    live, _ = run(tmp_path, mosquitto, "live", plan)
    first, (status, readings) = run(tmp_path, mosquitto, "live_first", plan)
    assert [(a["node"], a["level"]) for a in live if a["level"] >= 3] == [
        ("market-3", 3), ("market-3", 4)]
    assert sorted(map(key, first)) == sorted(map(key, live))
    assert len(readings) == 2 * len(fire())  # smoke and temp, every one stored
    assert status["totals"]["clock_skewed"] == 0
