"""Group commit in the core: messages arriving one at a time within ``group_commit_ms``
share one buffer transaction, and their acks run only after it; a trickle's window grows
to ``group_commit_max_ms``; an alert commits at once. Real buffer (SQLite in tmp_path) and
detectors; the inbox is a real queue that delivers a batch while the core waits on it."""

from __future__ import annotations

import queue
import time
from pathlib import Path
from typing import Any

from siaga.analytics.engine import EdgeAnalytics
from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.config import DownlinkSettings, load_settings
from siaga.gateway.core import TICK_S, TRICKLE_MESSAGES, Core, Stop
from siaga.gateway.downlink import CommandRequest, Downlink
from siaga.gateway.messages import InboundBatch, NodeMessage
from siaga.gateway.reading_converter import ReadingConverter

T0 = 1795000000.0


class ArrivingQueue(queue.Queue[Any]):
    """Puts the next ``later`` item when the core waits (a message arriving meanwhile)."""

    def __init__(self, later: list[Any]) -> None:
        super().__init__()
        self.later = later
        self.waits: list[float] = []

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block and timeout is not None and timeout < TICK_S and self.empty() and self.later:
            self.waits.append(timeout)
            self.put(self.later.pop(0))
        return super().get(block, timeout)


class PacedQueue(queue.Queue[Any]):
    """The next ``later`` item arrives ``gap_s`` into each wait: a wait shorter than that
    times out (at once: the clock is the timeout asked for, not slept; with ``sleep`` the
    waits are slept, on the real clock the core's deadline is measured on)."""

    def __init__(self, later: list[Any], gap_s: float, sleep: bool = False) -> None:
        super().__init__()
        self.later = later
        self.gap_s = gap_s
        self.sleep = sleep
        self.waits: list[float] = []

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block and timeout is not None and timeout < TICK_S and self.empty():
            self.waits.append(timeout)
            if not self.later or timeout < self.gap_s:
                if self.sleep:
                    time.sleep(timeout)
                raise queue.Empty
            if self.sleep:
                time.sleep(self.gap_s)
            self.put(self.later.pop(0))
        return super().get(block, timeout)


def make_core(
    tmp_path: Path, inbox: queue.Queue[Any], keys: dict[str, Any] | None = None, **gateway: Any
) -> tuple[Core, StoreAndForwardBuffer]:
    settings = load_settings(None, {}, {
        "serial.ports": ["/dev/x"], "gateway.state_dir": str(tmp_path),
        **{f"gateway.{k}": v for k, v in gateway.items()}, **(keys or {}),
    })
    buffer = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "b.sqlite3")))
    core = Core(settings, inbox, ReadingConverter(settings.convert),
                Downlink(DownlinkSettings(), lambda *a: True), store=buffer,
                detection=EdgeAnalytics(settings.analytics), clock=lambda: T0 + 5)
    return core, buffer


def batch(seq: int, acked: list[tuple[int, int]], buffer: list[StoreAndForwardBuffer],
          **values: float) -> InboundBatch:
    msg = NodeMessage(DeviceMessage("up", "n1", seq, values=values or {"vwc": 30.0}), "mqtt",
                      T0 + seq)
    return InboundBatch([msg], lambda: acked.append((seq, buffer[0].stats().depth)))


def test_messages_arriving_within_the_window_share_one_commit(tmp_path: Path) -> None:
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = ArrivingQueue([batch(2, acked, ref), batch(3, acked, ref)])
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=50)
    ref.append(buffer)
    inbox.put(batch(1, acked, ref))
    assert core._step()
    assert core.stats.commits == 1
    # every ack ran after the one commit that holds all three readings
    assert acked == [(1, 3), (2, 3), (3, 3)]
    assert len(inbox.waits) == 2 and all(0 < w <= 0.0501 for w in inbox.waits)
    assert core.stats.snapshot()["commits"] == 1


def test_zero_window_commits_what_is_waiting_at_once(tmp_path: Path) -> None:
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = ArrivingQueue([batch(2, acked, ref)])
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=0)
    ref.append(buffer)
    inbox.put(batch(1, acked, ref))
    core._step()
    assert acked == [(1, 1)] and inbox.waits == [] and core.stats.commits == 1


def test_max_batch_ends_the_gathering(tmp_path: Path) -> None:
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = ArrivingQueue([batch(3, acked, ref)])
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=50, max_batch=1)
    ref.append(buffer)
    inbox.put(batch(1, acked, ref))
    inbox.put(batch(2, acked, ref))
    core._step()
    assert acked == [(1, 1)] and inbox.waits == []


def test_stop_ends_the_gathering(tmp_path: Path) -> None:
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = ArrivingQueue([batch(3, acked, ref)])
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=50)
    ref.append(buffer)
    inbox.put(batch(1, acked, ref))
    inbox.put(Stop())
    assert not core._step()  # the Stop is taken with batch 1, nothing waited for
    assert acked == [(1, 1)] and inbox.waits == [] and core.stats.commits == 1


def test_a_trickle_shares_a_commit_past_group_commit_ms(tmp_path: Path) -> None:
    # one message every 20 ms: past the 5 ms window, inside the 100 ms it grows to
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = PacedQueue([batch(2, acked, ref), batch(3, acked, ref)], gap_s=0.02)
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=5, group_commit_max_ms=100)
    ref.append(buffer)
    inbox.put(batch(1, acked, ref))
    core._step()
    assert acked == [(1, 3), (2, 3), (3, 3)] and core.stats.commits == 1
    assert inbox.waits[0] > 0.05  # the window grew past group_commit_ms


def test_the_listener_gets_the_time_the_first_message_was_taken_not_the_commit(
    tmp_path: Path,
) -> None:
    # the uplink's batch age counts from it: a grown window must not add to the age
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = PacedQueue([batch(2, acked, ref), batch(3, acked, ref)], gap_s=0.02, sleep=True)
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=5, group_commit_max_ms=100)
    ref.append(buffer)
    heard: list[tuple[int, float | None, float]] = []
    buffer.on_append(lambda r, a, first_seen: heard.append((r, first_seen, time.monotonic())))
    inbox.put(batch(1, acked, ref))
    before = time.monotonic()
    core._step()
    [(readings, first_seen, committed)] = heard
    assert readings == 3 and first_seen is not None
    # the arrivals were 20 ms apart and the window ran ~100 ms past the first
    assert before <= first_seen < before + 0.015 and committed - first_seen >= 0.04


def test_without_growth_a_trickle_commits_each_message(tmp_path: Path) -> None:
    # group_commit_max_ms at or under group_commit_ms: the 5 ms window as before
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = PacedQueue([batch(2, acked, ref)], gap_s=0.02)
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=5, group_commit_max_ms=0)
    ref.append(buffer)
    inbox.put(batch(1, acked, ref))
    core._step()
    assert acked == [(1, 1)] and len(inbox.waits) == 1 and inbox.waits[0] <= 0.0051


def test_a_faster_stream_ends_at_group_commit_ms(tmp_path: Path) -> None:
    # TRICKLE_MESSAGES already in: the window is group_commit_ms, the next one waits
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = PacedQueue([batch(99, acked, ref)], gap_s=0.02)
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=5, group_commit_max_ms=100)
    ref.append(buffer)
    for seq in range(1, TRICKLE_MESSAGES + 1):
        inbox.put(batch(seq, acked, ref))
    core._step()
    n = TRICKLE_MESSAGES
    assert acked == [(seq, n) for seq in range(1, n + 1)] and inbox.waits[0] <= 0.0051


def test_an_alert_commits_at_once_without_waiting_for_the_window(tmp_path: Path) -> None:
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = PacedQueue([batch(9, acked, ref)], gap_s=0.02)
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=5, group_commit_max_ms=100)
    ref.append(buffer)
    inbox.put(batch(1, acked, ref, smoke=3000.0))  # smoke at 3,000 ppm: a fire alert
    core._step()
    assert inbox.waits == [] and core.stats.commits == 1 and core.stats.alerts >= 1
    assert acked == [(1, 1 + core.stats.alerts)]  # the reading and its alert, committed


def test_a_receive_maximum_under_trickle_messages_ends_the_window_at_group_commit_ms(
    tmp_path: Path,
) -> None:
    # MQTT 5, receive_maximum 4: the broker sends no 5th before our acks, so 4 in is the
    # whole window's worth; waiting for the grown window would cap the gateway at 4
    # messages per group_commit_max_ms
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = PacedQueue([batch(99, acked, ref)], gap_s=0.02)
    mqtt5 = {"mqtt.host": "localhost", "mqtt.protocol": "5", "mqtt.receive_maximum": 4}
    core, buffer = make_core(tmp_path, inbox, mqtt5, group_commit_ms=5, group_commit_max_ms=100)
    ref.append(buffer)
    for seq in range(1, 5):
        inbox.put(batch(seq, acked, ref))
    core._step()
    assert acked == [(seq, 4) for seq in range(1, 5)]
    assert len(inbox.waits) == 1 and inbox.waits[0] <= 0.0051


class SpyDetection:
    """Records the readings' times in the order the detectors get them (a stand-in for
    EdgeAnalytics: what is asserted is the order, not what a detector makes of it)."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def process(self, reading: Any) -> list[Any]:
        self.seen.append(reading.ts)
        return []

    def tick(self, now: float) -> list[Any]:
        return []

    def on_sequence_gap(self, node: str, missing: int, ts: float) -> list[Any]:
        return []

    def on_node_reboot(self, node: str, ts: float) -> list[Any]:
        return []

    def set_node_interval(self, node: str, interval_s: float) -> None:
        pass


def timed(seq: int, ts: float, received_at: float) -> InboundBatch:
    msg = NodeMessage(DeviceMessage("up", "n1", seq, values={"vwc": 30.0},
                                    ts_ms=int(ts * 1000)), "mqtt", received_at)
    return InboundBatch([msg], None)


def test_a_backlog_mixed_with_a_live_reading_reaches_the_detectors_in_time_order(
    tmp_path: Path,
) -> None:
    # a late reading, a live one, then an older late one, 20 ms apart in one grown window:
    # from the first late reading on, the gathering is detected together, in node time
    t = T0 + 100
    inbox = PacedQueue([], gap_s=0.02)
    settings = load_settings(None, {}, {
        "serial.ports": ["/dev/x"], "gateway.state_dir": str(tmp_path),
        "gateway.group_commit_ms": 5, "gateway.group_commit_max_ms": 100,
    })
    spy = SpyDetection()
    core = Core(settings, inbox, ReadingConverter(settings.convert),
                Downlink(DownlinkSettings(), lambda *a: True), detection=spy,
                clock=lambda: t)
    inbox.put(timed(1, t - 10, t - 10))  # a live reading first: the node's clock agrees
    core._step()
    inbox.later, inbox.waits = [timed(3, t, t), timed(4, t - 3599, t)], []
    inbox.put(timed(2, t - 3600, t))
    core._step()
    assert spy.seen == [t - 10, t - 3600, t - 3599, t]
    assert len(inbox.waits) == 3  # the three came in one gathering (the last wait: none)


def test_the_grown_window_runs_from_the_first_time_the_queue_ran_dry(tmp_path: Path) -> None:
    # one message every 30 ms, a 100 ms window: the arrivals do not restart it, so the
    # waits shrink and the gathering ends with messages still to come
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = PacedQueue([batch(seq, acked, ref) for seq in range(2, 8)], gap_s=0.03, sleep=True)
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=5, group_commit_max_ms=100)
    ref.append(buffer)
    inbox.put(batch(1, acked, ref))
    core._step()
    assert core.stats.commits == 1 and inbox.later  # ended before the last arrivals
    assert 2 <= len(acked) <= 4
    assert all(a > b for a, b in zip(inbox.waits, inbox.waits[1:], strict=False))
    assert inbox.waits[0] <= 0.1001 and inbox.waits[-1] < 0.03


def test_an_alert_on_a_later_arrival_commits_at_once(tmp_path: Path) -> None:
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = PacedQueue([batch(2, acked, ref, smoke=3000.0), batch(3, acked, ref)], gap_s=0.02)
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=5, group_commit_max_ms=100)
    ref.append(buffer)
    inbox.put(batch(1, acked, ref))
    core._step()
    assert core.stats.commits == 1 and core.stats.alerts >= 1
    assert [seq for seq, _ in acked] == [1, 2] and len(inbox.waits) == 1  # 3 not waited for


def spy_core(tmp_path: Path, inbox: queue.Queue[Any], spy: SpyDetection) -> Core:
    settings = load_settings(None, {}, {
        "serial.ports": ["/dev/x"], "gateway.state_dir": str(tmp_path),
        "gateway.group_commit_ms": 5, "gateway.group_commit_max_ms": 100,
    })
    return Core(settings, inbox, ReadingConverter(settings.convert),
                Downlink(DownlinkSettings(), lambda *a: True), detection=spy,
                clock=lambda: T0 + 100)


def test_the_switch_from_trickle_to_stream_detects_each_reading_once(tmp_path: Path) -> None:
    # 7 detected as they come, the 8th makes it a stream: detected with the rest at the end
    t = T0 + 100
    n = TRICKLE_MESSAGES + 2
    inbox = PacedQueue([timed(seq, t - n + seq, t) for seq in range(2, n + 1)], gap_s=0.0)
    spy = SpyDetection()
    core = spy_core(tmp_path, inbox, spy)
    inbox.put(timed(1, t - n + 1, t))
    core._step()
    assert spy.seen == [t - n + seq for seq in range(1, n + 1)]  # each once, in order
    assert not inbox.later  # all taken in one gathering


def test_a_command_ends_a_trickle(tmp_path: Path) -> None:
    acked: list[tuple[int, int]] = []
    ref: list[StoreAndForwardBuffer] = []
    inbox = PacedQueue([CommandRequest("n1", "ping", None), batch(3, acked, ref)], gap_s=0.02)
    core, buffer = make_core(tmp_path, inbox, group_commit_ms=5, group_commit_max_ms=100)
    ref.append(buffer)
    inbox.put(batch(1, acked, ref))
    core._step()
    assert acked == [(1, 1)] and len(inbox.waits) == 1 and inbox.later  # 3 not taken


class RaisingSpy(SpyDetection):
    def process(self, reading: Any) -> list[Any]:
        if reading.ts == T0 + 98:
            raise RuntimeError("a detector bug")
        return super().process(reading)


def test_a_detector_raising_on_one_arrival_loses_no_other(tmp_path: Path) -> None:
    t = T0 + 100
    inbox = PacedQueue([timed(2, t - 2, t), timed(3, t - 1, t)], gap_s=0.02)
    spy = RaisingSpy()
    core = spy_core(tmp_path, inbox, spy)
    inbox.put(timed(1, t - 3, t))
    core._step()
    assert spy.seen == [t - 3, t - 1] and core.stats.internal_errors == 1
    assert core.stats.totals.readings == 3 and not inbox.later  # one gathering, none lost
