"""The core's converter: ``up`` messages -> Readings via firmware_bridge's SampleConverter."""

from __future__ import annotations

from collections.abc import Mapping

from siaga.firmware_bridge.convert import SampleConverter
from siaga.firmware_bridge.reading import Reading
from siaga.gateway.config import ConvertSettings
from siaga.gateway.messages import NodeMessage


class ReadingConverter:
    def __init__(self, settings: ConvertSettings,
                 baselines: Mapping[tuple[str, str], int] | None = None,
                 counter_modulus: Mapping[tuple[str, str], int] | None = None) -> None:
        self.samples = SampleConverter(
            mm_per_tip=settings.node_mm_per_tip, max_skew_s=settings.max_clock_skew_s,
            baselines=baselines, counter_modulus=counter_modulus,
        )

    def convert(self, item: NodeMessage) -> tuple[list[Reading], int, bool]:
        """The sample's readings, how many of its values were beyond their channel's
        accepted range (refused, firmware_bridge/channels.py), and whether one of its
        counters was reset (``Reading.counter_reset``)."""
        msg = item.message
        node_ts = None if msg.ts_ms is None else msg.ts_ms / 1000.0
        samples = self.samples
        refused, resets = samples.out_of_range, samples.counter_resets
        readings = samples.convert(
            msg.node, msg.seq or 0, msg.values, node_ts, item.received_at, item.source
        )
        return readings, samples.out_of_range - refused, samples.counter_resets != resets

    def clock_offsets(self) -> dict[str, float]:
        """Each node's estimated clock offset in seconds (firmware_bridge/clock_offset.py)."""
        return self.samples.clocks.snapshot()
