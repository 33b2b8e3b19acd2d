"""The core thread's processing, driven directly (no threads): real converter, detectors,
buffer (SQLite in tmp_path) and JSON lines output."""

from __future__ import annotations

import io
import json
import queue
from pathlib import Path
from typing import Any

from siaga.analytics.engine import EdgeAnalytics
from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.config import DownlinkSettings, load_settings
from siaga.gateway.core import Core, Stop
from siaga.gateway.downlink import CommandRequest, Downlink
from siaga.gateway.messages import InboundBatch, IngestError, NodeMessage
from siaga.gateway.reading_converter import ReadingConverter
from siaga.gateway.stdout_output import JsonLinesOutput

T0 = 1795000000.0


def up(node: str, seq: int, t: float, **values: Any) -> NodeMessage:
    return NodeMessage(DeviceMessage("up", node, seq, values=values), "serial:/dev/x", T0 + t)


def take(core: Core, batches: list[InboundBatch]) -> None:
    """The batches through the runtime's path: queued, then one gathering and commit."""
    for b in batches:
        core.inbox.put(b)
    items: list[object] = []
    core._gather(core.inbox.get_nowait(), items)


def make_core(tmp_path: Path) -> tuple[Core, StoreAndForwardBuffer, io.BytesIO]:
    settings = load_settings(None, {}, {
        "serial.ports": ["/dev/x"], "gateway.state_dir": str(tmp_path),
    })
    buffer = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "b.sqlite3")))
    out = io.BytesIO()
    core = Core(
        settings, queue.Queue(), ReadingConverter(settings.convert),
        Downlink(DownlinkSettings(), lambda *a: True),
        detection=EdgeAnalytics(settings.analytics), store=buffer, output=JsonLinesOutput(out),
        clock=lambda: T0 + 5,
    )
    return core, buffer, out


def lines(out: io.BytesIO) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.getvalue().decode().splitlines()]


def test_batch_is_committed_before_its_ack_runs(tmp_path: Path) -> None:
    core, buffer, out = make_core(tmp_path)
    depth_at_ack: list[int] = []
    batch = InboundBatch(
        [up("n1", 1, 0, vwc=30.0, temp=25.0), up("n1", 2, 1, vwc=31.0, temp=25.0)],
        lambda: depth_at_ack.append(buffer.stats().depth),
    )
    take(core, [batch])
    assert depth_at_ack == [4]
    assert [(x["channel"], x["seq"]) for x in lines(out)] == [
        ("vwc", 1), ("temp", 1), ("vwc", 2), ("temp", 2)
    ]


def test_duplicates_gaps_errors_and_hello_are_counted(tmp_path: Path) -> None:
    core, _, out = make_core(tmp_path)
    hello = NodeMessage(
        DeviceMessage("hello", "n2", 0, fw="1.2.3", channels=("vwc",), interval_s=60),
        "mqtt", T0,
    )
    take(core, [InboundBatch([
        hello,
        up("n2", 1, 1, vwc=1.0),
        up("n2", 1, 1, vwc=1.0),
        up("n2", 5, 2, vwc=2.0),
        IngestError("serial:/dev/x", T0, "crc_mismatch", "crc", "$SG..."),
        IngestError("serial:/dev/x", T0, "garbage", "noise", "xx"),
    ])])
    snap = core.stats.snapshot()
    assert snap["nodes"]["n2"] == {
        "frames_ok": 3, "crc_errors": 0, "malformed": 0, "gaps": 3, "duplicates": 1,
        "reboots": 0, "readings": 2, "clock_skewed": 0, "late": 0, "too_late": 0,
    }
    assert snap["sources"]["serial:/dev/x"]["crc_errors"] == 1
    assert snap["sources"]["serial:/dev/x"]["malformed"] == 1
    state = core.nodes.get("n2")
    assert (state.firmware, state.channels, state.interval_s) == ("1.2.3", ("vwc",), 60)
    assert state.source == "serial:/dev/x"  # where it was heard last: the command route
    kinds = [x["kind"] for x in lines(out)]
    assert kinds[:4] == ["reading", "reading", "error", "error"]
    assert set(kinds[4:]) <= {"alert"}  # the gap may raise a link-health alert


def test_a_message_that_trips_a_bug_is_reported_and_the_rest_goes_on(tmp_path: Path) -> None:
    core, buffer, out = make_core(tmp_path)
    bad = up("n3", 1, 0, vwc="not a number")  # DeviceMessage never carries this; a bug would
    take(core, [InboundBatch([bad, up("n3", 2, 1, vwc=5.0)])])
    got = lines(out)
    assert [x["kind"] for x in got] == ["reading", "error"]
    assert got[1]["reason"] == "internal_error"
    assert core.stats.internal_errors == 1 and buffer.stats().depth == 1


def test_detector_alert_is_buffered_and_printed(tmp_path: Path) -> None:
    core, buffer, out = make_core(tmp_path)
    take(core, [InboundBatch([up("f1", i, i * 10, smoke=3000.0) for i in range(1, 4)])])
    alerts = [x for x in lines(out) if x["kind"] == "alert"]
    assert alerts and alerts[0]["hazard"] == "fire" and alerts[0]["node"] == "f1"
    assert buffer.stats().alerts == len(alerts)


def test_run_drains_the_queue_then_stops_and_writes_status(tmp_path: Path) -> None:
    core, _, out = make_core(tmp_path)
    core.inbox.put(InboundBatch([up("n4", 1, 0, hum=50.0)]))
    request = CommandRequest("n4", "ping", None)
    core.inbox.put(request)
    core.inbox.put(Stop())
    core.run()
    assert len(lines(out)) == 1
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["nodes"]["n4"]["frames_ok"] == 1 and status["commands"]["pending"] == 1
    assert not request.future.done()  # sent, waiting for its ack


def test_counter_drop_without_sequence_restart_counts_a_reboot(tmp_path: Path) -> None:
    core, _, out = make_core(tmp_path)
    take(core, [InboundBatch([
        up("r1", 1, 0, rain=5000.0), up("r1", 2, 60, rain=5003.0), up("r1", 3, 120, rain=2.0),
    ])])
    rain = [x for x in lines(out) if x.get("channel") == "rain"]
    assert [(r["value"], r["counter_reset"]) for r in rain] == [
        (0.0, False), (0.6, False), (0.4, True)
    ]
    assert core.stats.snapshot()["nodes"]["r1"]["reboots"] == 1
    assert core.nodes.get("r1").reboots == 1


def test_values_beyond_the_accepted_range_are_refused_alone_and_counted(
        tmp_path: Path) -> None:
    """Issue 12 case 8: a 1e308 (or a 240-digit serial integer) makes no reading; the
    sample's other channels are kept, and the refusal shows in the status' error reasons."""
    core, buffer, out = make_core(tmp_path)
    take(core, [InboundBatch([up("n3", 1, 0, vwc=1e308, temp=25.0),
                                up("n3", 2, 1, vwc=31.0, smoke=10**240)])])
    assert [(x["channel"], x["value"]) for x in lines(out)] == [("temp", 25.0), ("vwc", 31.0)]
    assert buffer.stats().depth == 2
    snap = core.stats.snapshot()
    assert snap["error_reasons"]["serial:/dev/x"] == {"out_of_range": 2}
    assert snap["nodes"]["n3"]["readings"] == 2
