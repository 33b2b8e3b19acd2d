"""Virtual nodes on real pseudo-terminals, read with pyserial and the firmware_bridge codec."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from siaga.firmware_bridge.codec import Frame, encode_frame
from siaga.firmware_bridge.frame_stream import DecodeError, FrameDecoder
from siaga.simulators.pty_nodes import PtyNodeSet
from siaga.simulators.scenario_catalog import build
from siaga.simulators.transport_faults import FaultSettings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def read_items(port: serial.Serial, seconds: float,
               decoder: FrameDecoder | None = None) -> list[Frame | DecodeError]:
    decoder = decoder or FrameDecoder()
    items: list[Frame | DecodeError] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        items.extend(decoder.feed(port.read(4096)))
    return items


def frames_of(items: list[Frame | DecodeError]) -> list[Frame]:
    return [i for i in items if isinstance(i, Frame)]


def test_each_node_has_its_own_pty_with_valid_frames_in_order() -> None:
    with PtyNodeSet(build("fire", seed=1, nodes=3), speed=200) as nodes:
        assert len(set(nodes.paths.values())) == 3
        ports = {n: serial.Serial(p, timeout=0.1) for n, p in nodes.paths.items()}
        try:
            items = {n: read_items(port, 1.5) for n, port in ports.items()}
        finally:
            for port in ports.values():
                port.close()
    for node, got in items.items():
        assert not [i for i in got if isinstance(i, DecodeError)], node
        frames = frames_of(got)
        assert len(frames) >= 3, node
        assert {f.node for f in frames} == {node}
        assert (frames[0].type, frames[0].seq) == ("H", 0)
        assert [f.seq for f in frames] == list(range(len(frames)))
        data = [f for f in frames if f.type == "D"]
        assert set(data[0].fields) >= {"batt", "up"}


def test_corrupted_frames_fail_their_crc_and_nothing_else_is_lost() -> None:
    faults = FaultSettings(corrupt=0.25, seed=3)
    with (
        PtyNodeSet(build("fire", seed=1, nodes=1), speed=300, faults=faults) as nodes,
        serial.Serial(nodes.paths["pasar-smoke-01"], timeout=0.1) as port,
    ):
        decoder = FrameDecoder()
        items = read_items(port, 1.5, decoder)
        nodes.stop()
        items += read_items(port, 0.3, decoder)  # what was in the pty at the stop
        written = nodes.stats.frames
    corrupted = [lb for lb in nodes.injector.injected if lb.cause == "corrupt"]
    errors = [i for i in items if isinstance(i, DecodeError)]
    assert corrupted and errors
    assert "crc_mismatch" in {e.reason for e in errors}
    # Every frame written is either decoded or corrupted.
    assert len(frames_of(items)) == written - len(corrupted)


def test_dropped_frames_show_as_seq_gaps() -> None:
    faults = FaultSettings(drop=0.2, seed=5)
    with (
        PtyNodeSet(build("fire", seed=1, nodes=1), speed=300, faults=faults) as nodes,
        serial.Serial(nodes.paths["pasar-smoke-01"], timeout=0.1) as port,
    ):
        decoder = FrameDecoder()
        items = read_items(port, 1.5, decoder)
        nodes.stop()
        items += read_items(port, 0.3, decoder)
    seqs = [f.seq for f in frames_of(items)]
    missing = sum(b - a - 1 for a, b in zip(seqs, seqs[1:], strict=False))
    drops = [lb for lb in nodes.injector.injected if lb.cause == "drop"]
    assert missing > 0
    # The stop may land between a drop and the next frame: that drop is no gap yet.
    assert len(drops) - 1 <= missing <= len(drops)


def test_banner_and_garbage_lines_are_skipped_by_the_decoder() -> None:
    faults = FaultSettings(garbage=0.3, banner=True, seed=2)
    with (
        PtyNodeSet(build("fire", seed=1, nodes=1), speed=300, faults=faults) as nodes,
        serial.Serial(nodes.paths["pasar-smoke-01"], timeout=0.1) as port,
    ):
        items = read_items(port, 1.5)
    reasons = {i.reason for i in items if isinstance(i, DecodeError)}
    assert "garbage" in reasons
    frames = frames_of(items)
    assert (frames[0].type, frames[0].seq) == ("H", 0)
    assert len(frames) > 10


def test_a_node_acknowledges_commands_and_reboots_on_request() -> None:
    with PtyNodeSet(build("quiet", seed=1, nodes=1), speed=100) as nodes:
        node = next(iter(nodes.paths))
        with serial.Serial(nodes.paths[node], timeout=0.1) as port:
            before = frames_of(read_items(port, 0.5))
            assert before, "the node booted"
            port.write(encode_frame(Frame("C", node, 7, {"cmd": "reboot"})))
            port.write(encode_frame(Frame("C", node, 8, {"cmd": "selfdestruct"})))
            after = frames_of(read_items(port, 1.5))
    acks = [f for f in after if f.type == "A"]
    assert [(a.fields["cseq"], a.fields["ok"]) for a in acks] == [(7, 1), (8, 0)]
    hellos = [f for f in after if f.type == "H" and f.seq == 0]
    assert hellos, "a hello with seq 0 after the reboot"
    events = [f for f in after if f.type == "E"]
    assert events and events[0].fields["code"] == "command"


def test_link_dir_gives_stable_names_and_they_go_away(tmp_path: Path) -> None:
    links = tmp_path / "by-id"
    with PtyNodeSet(build("crowd", seed=1, nodes=2), speed=100, link_dir=links) as nodes:
        assert sorted(p.name for p in links.iterdir()) == sorted(nodes.paths)
        with serial.Serial(str(links / "alun-gate-01"), timeout=0.1) as port:
            assert frames_of(read_items(port, 1.0))
    assert list(links.iterdir()) == []


def test_cli_prints_machine_readable_paths_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "siaga.simulators.cli", "serial", "--nodes", "2", "--scenario",
         "storm", "--speed", "100", "--json", "--link-dir", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert sorted(info["nodes"]) == ["slope-05", "slope-06"]
        assert info["links"]["slope-05"] == str(tmp_path / "slope-05")
        with serial.Serial(info["nodes"]["slope-06"], timeout=0.1) as port:
            frames = frames_of(read_items(port, 1.0))
        assert frames and frames[0].node == "slope-06"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "wrote" in err


def test_cli_rejects_a_bad_fault_spec_with_the_option_name() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "siaga.simulators.cli", "serial", "--faults", "corrupt=2"],
        cwd=REPO, capture_output=True, text=True, timeout=30,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.returncode == 78
    assert "--faults" in r.stderr and "0..1" in r.stderr
