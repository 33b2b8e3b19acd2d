"""Wire forms of node messages, and the transport fault injector."""

from __future__ import annotations

import random

import pytest

from siaga import simulators
from siaga.firmware_bridge.codec import decode_frame
from siaga.firmware_bridge.device_message import decode_device_message
from siaga.firmware_bridge.errors import FrameDecodeError
from siaga.simulators.device_wire import mqtt_message, serial_line
from siaga.simulators.errors import SimSettingsError
from siaga.simulators.node import NodeMessage, VirtualNode
from siaga.simulators.scenario_catalog import generate
from siaga.simulators.transport_faults import BOOT_BANNER, FaultInjector, FaultSettings, flip_bits

T0 = 1768528800.0


def test_public_api_is_pinned() -> None:
    assert sorted(simulators.__all__) == sorted([
        "SCENARIO_NAMES", "ChannelFault", "FaultInjector", "FaultSettings", "FloodResult",
        "Label", "MqttNodeSet", "NodeInfo", "NodeMessage", "NodeSchedule", "Outage",
        "PtyNodeSet", "Reboot", "Sample", "Scenario", "ScenarioRun", "SimSettingsError",
        "SimulatorError", "Site", "TransportError", "UnknownScenarioError", "VirtualNode",
        "build", "flood", "generate", "mqtt_message", "serial_line",
    ])


def test_every_message_of_a_scenario_encodes_and_decodes_on_both_wires() -> None:
    run = generate("demo", seed=1, duration_s=3600)
    for m in run.messages:
        frame = decode_frame(serial_line(m))
        assert (frame.type, frame.node, frame.seq) == (m.type, m.node, m.seq)
        for key, value in m.fields.items():
            assert frame.fields[key] == value
        topic, payload = mqtt_message(m)
        device = decode_device_message(topic, payload)
        assert (device.node, device.seq) == (m.node, m.seq)
        if m.type == "D":
            assert frame.fields["up"] == m.uptime_ms
            assert device.values == m.fields
            assert device.ts_ms is None


def test_node_clock_puts_the_simulated_time_in_ts() -> None:
    m = NodeMessage(T0 + 1.2345, "n-1", "D", 5, {"vwc": 30.5}, 1000)
    _, payload = mqtt_message(m, node_clock=True)
    assert decode_device_message("siaga/node/n-1/up", payload).ts_ms == 1768528801234


@pytest.mark.parametrize("spec, expected", [
    ("", FaultSettings()),
    ("corrupt=0.1, drop=0.05,banner", FaultSettings(corrupt=0.1, drop=0.05, banner=True)),
    ("silence=0.01,silence_s=60,stuck=1", FaultSettings(silence=0.01, silence_s=60, stuck=1)),
])
def test_fault_spec_parses(spec: str, expected: FaultSettings) -> None:
    assert FaultSettings.parse(spec) == expected


@pytest.mark.parametrize("spec, fragment", [
    ("corrupt=1.5", "0..1"),
    ("bitrot=0.1", "unknown fault 'bitrot'"),
    ("drop=lots", "not a number"),
    ("banner=1", "flag"),
    ("silence_s=0", "> 0"),
    ("seed=4", "unknown fault"),
])
def test_bad_fault_spec_names_the_option_and_the_problem(spec: str, fragment: str) -> None:
    with pytest.raises(SimSettingsError, match="--faults") as e:
        FaultSettings.parse(spec)
    assert fragment in str(e.value)


def test_flipped_bits_always_break_the_crc_check() -> None:
    line = serial_line(NodeMessage(T0, "slope-07", "D", 1, {"vwc": 31.5, "rain": 1042}, 60211))
    rng = random.Random(1)
    for _ in range(300):
        bad = flip_bits(line, rng, keep_tail=2)
        assert bad != line and bad.endswith(b"\r\n") and bad.startswith(b"$")
        with pytest.raises(FrameDecodeError):
            decode_frame(bad)


class _Probe:
    channels = ("vwc",)

    def read(self, ts: float, rng: random.Random) -> dict[str, float]:
        return {"vwc": 30.0 + (ts - T0) / 1000}


def test_injector_drops_corrupts_and_adds_noise_and_records_each() -> None:
    node = VirtualNode("n-1", "test", 10, [_Probe()], seed=0, boot_ts=T0)
    msgs = [m for m in (node.step() for _ in range(400)) if m is not None]
    injector = FaultInjector(FaultSettings(drop=0.1, corrupt=0.1, garbage=0.1, banner=True,
                                           seed=9))
    sent = [injector.wire(m, serial_line(m), node) for m in msgs]
    causes = [lb.cause for lb in injector.injected]
    assert sent[0][0] == BOOT_BANNER
    lost = sum(1 for out in sent if not any(p.startswith(b"$") for p in out))
    assert lost == causes.count("drop")
    assert 20 < causes.count("drop") < 60
    assert 20 < causes.count("corrupt") < 60
    assert 20 < causes.count("garbage") < 60


def _drive(node: VirtualNode, injector: FaultInjector, steps: int) -> list[NodeMessage]:
    out = []
    for _ in range(steps):
        m = node.step()
        if m is not None:
            out.append(m)
            injector.wire(m, serial_line(m), node)
    return out


def test_injected_reboots_restart_the_node() -> None:
    node = VirtualNode("n-1", "test", 10, [_Probe()], seed=0, boot_ts=T0)
    injector = FaultInjector(FaultSettings(reboot=0.05, seed=4))
    msgs = _drive(node, injector, 600)
    reboots = [lb for lb in injector.injected if lb.cause == "reboot"]
    boots = [m for m in msgs if m.type == "H" and m.seq == 0]
    assert len(reboots) > 3
    # Each reboot shows as a new boot (hello, seq 0), but one still pending at the end.
    assert len(boots) - 1 in (len(reboots), len(reboots) - 1)
    assert all(m.fields["code"] == "watchdog" for m in msgs if m.type == "E")


def test_injected_silence_and_stuck_are_scheduled_on_the_node() -> None:
    node = VirtualNode("n-1", "test", 10, [_Probe()], seed=0, boot_ts=T0)
    injector = FaultInjector(FaultSettings(silence=0.05, stuck=0.05, seed=4))
    msgs = _drive(node, injector, 600)
    causes = [lb.cause for lb in injector.injected]
    silences = [lb for lb in injector.injected if lb.cause == "dropout"]
    assert silences
    for lb in silences:
        assert not [m for m in msgs if lb.start_ts <= m.ts < lb.end_ts]
    # Outages that are over are forgotten: an endless run stays small.
    assert all(o.end_ts > msgs[-1].ts for o in node.schedule.outages)
    assert causes.count("stuck") > 0
    for lb in injector.injected:
        if lb.cause == "stuck":
            held = {m.fields["vwc"] for m in msgs
                    if m.type == "D" and lb.start_ts <= m.ts < lb.end_ts}
            assert len(held) <= 1
    assert all(f.end_ts > msgs[-1].ts for f in node.schedule.faults)
    assert {f.channel for f in node.schedule.faults} == {"vwc"}


def test_flips_never_cancel_out_even_on_a_short_payload() -> None:
    """Regression: two flips of the same bit restored the byte, so a message labelled
    'corrupt' went out intact (found by the hypothesis property on fault injection)."""
    rng = random.Random(0)
    for _ in range(2000):
        assert flip_bits(b"$ab", rng) != b"$ab"
    assert flip_bits(b"$", rng) != b"$"
    assert flip_bits(b"\r\n", rng, keep_tail=2) == b"\r\n"
