"""Virtual nodes: hello, seq, counters, reboots, outages, channel faults."""

from __future__ import annotations

import random
from dataclasses import dataclass

from siaga.simulators.node import (
    HELLO_EVERY_S,
    ChannelFault,
    NodeMessage,
    NodeSchedule,
    Outage,
    Reboot,
    VirtualNode,
)

T0 = 1768528800.0


@dataclass
class Ramp:
    """A probe whose counter grows by one per second and whose gauge is the minute."""

    channels: tuple[str, ...] = ("rain", "vwc")

    def read(self, ts: float, rng: random.Random) -> dict[str, float]:
        return {"rain": int(ts - T0), "vwc": round(20 + ((ts - T0) // 60) % 10, 1)}


def run(node: VirtualNode, until: float) -> list[NodeMessage]:
    out = []
    while node.next_ts <= until:
        m = node.step()
        if m is not None:
            out.append(m)
    return out


def test_boots_with_a_hello_then_samples_at_its_interval_and_says_hello_every_10_min() -> None:
    node = VirtualNode("n-1", "test", 60, [Ramp()], seed=0, boot_ts=T0)
    msgs = run(node, T0 + 1800)
    first = msgs[0]
    assert (first.type, first.seq, first.ts) == ("H", 0, T0)
    assert first.fields == {"fw": "1.4.2", "ch": "rain|vwc", "int": 60}
    hellos = [m.ts - T0 for m in msgs if m.type == "H"]
    assert hellos == [0, HELLO_EVERY_S, 2 * HELLO_EVERY_S, 3 * HELLO_EVERY_S]
    data = [m for m in msgs if m.type == "D"]
    steps = [round(b.ts - a.ts) for a, b in zip(data, data[1:], strict=False)]
    assert steps == [60] * (len(data) - 1)
    assert [m.seq for m in msgs] == list(range(len(msgs)))
    # Counters count since boot.
    assert data[0].fields["rain"] == 1
    assert data[0].uptime_ms == 1000


def test_seq_wraps_from_65535_to_0() -> None:
    node = VirtualNode("n-1", "test", 1, [Ramp()], seed=0, boot_ts=T0)
    seqs = [m.seq for m in run(node, T0 + 66000)]
    i = seqs.index(65535)
    assert seqs[i + 1] == 0
    assert all(b == (a + 1) % 65536 for a, b in zip(seqs, seqs[1:], strict=False))


def test_reboot_resets_seq_and_counters_says_hello_and_why() -> None:
    sched = NodeSchedule(reboots=[Reboot(T0 + 300.5, "brownout")])
    node = VirtualNode("n-1", "test", 60, [Ramp()], seed=0, boot_ts=T0, schedule=sched)
    msgs = run(node, T0 + 600)
    before = [m for m in msgs if m.ts < T0 + 300.5]
    after = [m for m in msgs if m.ts > T0 + 300.5]
    assert before[-1].seq > 3
    assert [(m.type, m.seq) for m in after[:3]] == [("H", 0), ("E", 1), ("D", 2)]
    assert after[1].fields == {"code": "brownout"}
    assert after[0].ts == T0 + 303.5  # down for the boot time
    assert after[2].fields["rain"] == 1  # counting from the new boot
    rain_before = [m.fields["rain"] for m in before if m.type == "D"]
    assert rain_before == sorted(rain_before)


def test_outage_loses_messages_but_seq_runs_on() -> None:
    sched = NodeSchedule(outages=[Outage(T0 + 100, T0 + 400)])
    node = VirtualNode("n-1", "test", 60, [Ramp()], seed=0, boot_ts=T0, schedule=sched)
    msgs = run(node, T0 + 700)
    assert not [m for m in msgs if T0 + 100 <= m.ts < T0 + 400]
    seqs = [m.seq for m in msgs]
    gaps = [b - a for a, b in zip(seqs, seqs[1:], strict=False) if b - a != 1]
    assert gaps == [6]  # data at 121, 181, 241, 301, 361 s lost: the seq jumps by 6
    assert node.sent == len(msgs)


def test_stuck_repeats_the_last_good_value_spike_jumps_out_of_range_replaces() -> None:
    faults = [
        ChannelFault("vwc", "stuck", T0 + 600, T0 + 1200),
        ChannelFault("vwc", "spike", T0 + 1500, T0 + 1560, 40.0),
        ChannelFault("vwc", "out_of_range", T0 + 1800, T0 + 1900, 150.0),
    ]
    node = VirtualNode("n-1", "test", 60, [Ramp()], seed=0, boot_ts=T0,
                       schedule=NodeSchedule(faults=faults))
    data = {round(m.ts - T0): m.fields for m in run(node, T0 + 2000) if m.type == "D"}
    last_good = data[541]["vwc"]
    stuck = [f["vwc"] for t, f in data.items() if 600 <= t < 1200]
    assert stuck == [last_good] * len(stuck)
    assert data[1201]["vwc"] != last_good
    assert data[1501]["vwc"] == 20 + (1501 // 60) % 10 + 40
    assert data[1561]["vwc"] < 40
    assert data[1801]["vwc"] == 150.0
    # Other channels are untouched.
    assert data[601]["rain"] == 601


def test_inserted_reboot_lands_in_order() -> None:
    node = VirtualNode("n-1", "test", 60, [Ramp()], seed=0, boot_ts=T0,
                       schedule=NodeSchedule(reboots=[Reboot(T0 + 900)]))
    run(node, T0 + 100)
    node.reboot_now(T0 + 500)
    msgs = run(node, T0 + 1000)
    hellos = [round(m.ts - T0, 1) for m in msgs if m.type == "H" and m.seq == 0]
    assert hellos == [503.0, 903.0]
