"""``--stdout``: one JSON object per line for every reading, decode error and alert.

Lines are built per batch and written with one ``write`` and one ``flush``, so a
busy gateway makes a few large writes rather than one per reading. A reader that
goes away (``| head``, a closed pipe) stops the printing, logged once; ingestion,
buffering and the uplink carry on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, BinaryIO

from analytics.alert import Alert
from firmware_bridge.reading import READING_SCHEMA_VERSION, Reading, iso_utc
from gateway.messages import IngestError

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=True).encode


def reading_json(r: Reading) -> dict[str, Any]:
    """``Reading.to_json`` without ``dataclasses.asdict``, which costs most of the time."""
    return {
        "kind": "reading",
        "v": READING_SCHEMA_VERSION,
        "node": r.node,
        "channel": r.channel,
        "value": r.value,
        "unit": r.unit,
        "ts": iso_utc(r.ts),
        "received_at": iso_utc(r.received_at),
        "seq": r.seq,
        "source": r.source,
        "raw": r.raw,
        "node_ts": None if r.node_ts is None else iso_utc(r.node_ts),
        "clock_skewed": r.clock_skewed,
        "counter_reset": r.counter_reset,
    }


class JsonLinesOutput:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.closed = False

    def write(
        self,
        readings: Sequence[Reading],
        alerts: Sequence[Alert],
        errors: Sequence[IngestError],
    ) -> None:
        if self.closed or not (readings or alerts or errors):
            return
        lines = [_dumps(reading_json(r)) for r in readings]
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
