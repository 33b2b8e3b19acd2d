"""``--stdout``: one JSON object per line for every reading, decode error and alert.

Lines are built per batch and written with one ``write`` and one ``flush``, so a
busy gateway makes a few large writes rather than one per reading. A reader that
goes away (``| head``, a closed pipe) stops the printing, logged once; ingestion,
buffering and the uplink carry on.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from typing import BinaryIO

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.reading import READING_SCHEMA_VERSION, Reading, iso_utc
from siaga.gateway.messages import IngestError

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=True).encode
_text = json.encoder.encode_basestring
_INF = float("inf")


def _number(v: float) -> str:
    if type(v) is int:  # a counter's raw count stays an integer, as json.dumps writes it
        return int.__repr__(v)
    if v != v:
        return "NaN"
    if v == _INF:
        return "Infinity"
    if v == -_INF:
        return "-Infinity"
    return float.__repr__(v)


class IsoTimes:
    """``iso_utc`` with the formatted second cached: readings of one batch share it."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, ts: float) -> str:
        # The same rounding as datetime.fromtimestamp, so the text equals iso_utc(ts).
        frac, whole = math.modf(ts)
        us = round(frac * 1e6)
        if us >= 1_000_000:
            whole += 1
            us -= 1_000_000
        if frac < 0 or us < 0:
            return iso_utc(ts)
        second = int(whole)
        if second != self._second:
            self._second = second
            self._prefix = iso_utc(second)[:-4]
        return f"{self._prefix}{us // 1000:03d}Z"


def reading_line(r: Reading, iso: IsoTimes) -> str:
    """``Reading.to_json`` as one JSON text, formatted directly: the hot path of --stdout."""
    raw = "null" if r.raw is None else _number(r.raw)
    node_ts = "null" if r.node_ts is None else f'"{iso(r.node_ts)}"'
    return (
        f'{{"kind":"reading","v":{READING_SCHEMA_VERSION},"node":{_text(r.node)},'
        f'"channel":{_text(r.channel)},"value":{_number(r.value)},"unit":{_text(r.unit)},'
        f'"ts":"{iso(r.ts)}","received_at":"{iso(r.received_at)}","seq":{r.seq},'
        f'"source":{_text(r.source)},"raw":{raw},"node_ts":{node_ts},'
        f'"clock_skewed":{"true" if r.clock_skewed else "false"},'
        f'"counter_reset":{"true" if r.counter_reset else "false"},'
        f'"late":{"true" if r.late else "false"}}}'
    )


class JsonLinesOutput:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._iso = IsoTimes()
        self.closed = False

    def write(
        self,
        readings: Sequence[Reading],
        alerts: Sequence[Alert],
        errors: Sequence[IngestError],
    ) -> None:
        if self.closed or not (readings or alerts or errors):
            return
        iso = self._iso
        lines = [reading_line(r, iso) for r in readings]
        lines.extend(_dumps(e.to_json()) for e in errors)
        lines.extend(_dumps(a.to_json()) for a in alerts)
        lines.append("")
        try:
            self._stream.write("\n".join(lines).encode())
            self._stream.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            # ValueError: the stream was closed under us.
            self.closed = True
            log.warning("stdout closed (%s); no more JSON lines, ingestion continues", e)
