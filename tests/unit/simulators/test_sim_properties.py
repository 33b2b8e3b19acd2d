"""Properties over random seeds, scenarios and fault settings."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siaga.firmware_bridge.codec import Frame
from siaga.firmware_bridge.frame_stream import FrameDecoder
from siaga.simulators.device_wire import serial_line
from siaga.simulators.scenario_catalog import SCENARIO_NAMES, build, generate
from siaga.simulators.transport_faults import FaultInjector, FaultSettings
from tests.hypothesis_profiles import costly

SLOW = settings(max_examples=costly(12), suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(name=st.sampled_from(SCENARIO_NAMES), seed=st.integers(0, 2**31),
       lead=st.floats(0, 1800))
def test_every_message_is_a_valid_frame_and_seq_counts_per_node(
    name: str, seed: int, lead: float,
) -> None:
    run = generate(name, seed, duration_s=3600, lead_s=lead)
    decoder = FrameDecoder()
    frames = decoder.feed(b"".join(serial_line(m) for m in run.messages))
    assert all(isinstance(f, Frame) for f in frames)
    assert len(frames) == len(run.messages)
    last: dict[str, int] = {}
    for m in run.messages:
        if m.node in last and not (m.type == "H" and m.seq == 0):
            # Outages lose frames, so seq may jump; it goes back only at a reboot's
            # hello (an hour is too short for the 65536 wrap).
            assert m.seq > last[m.node], (m, last[m.node])
        last[m.node] = m.seq
    for label in run.labels:
        assert run.start_ts <= label.start_ts


@SLOW
@given(seed=st.integers(0, 2**31), corrupt=st.floats(0, 0.5), drop=st.floats(0, 0.5),
       garbage=st.floats(0, 0.5), reboot=st.floats(0, 0.05))
def test_a_decoder_never_loses_a_frame_that_was_neither_dropped_nor_corrupted(
    seed: int, corrupt: float, drop: float, garbage: float, reboot: float,
) -> None:
    scenario = build("fire", seed, nodes=1)
    node = next(iter(scenario.nodes.values()))
    injector = FaultInjector(FaultSettings(corrupt=corrupt, drop=drop, garbage=garbage,
                                           reboot=reboot, banner=True, seed=seed))
    stream = bytearray()
    sent = 0
    for m in scenario.messages(scenario.start_ts + 1800):
        stream += b"".join(injector.wire(m, serial_line(m), node))
        sent += 1
    items = FrameDecoder().feed(bytes(stream))
    good = [i for i in items if isinstance(i, Frame)]
    lost = sum(1 for lb in injector.injected if lb.cause in ("drop", "corrupt"))
    assert len(good) == sent - lost
