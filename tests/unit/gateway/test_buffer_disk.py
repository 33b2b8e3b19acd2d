"""Issue 12 case 10: ``buffer.max_bytes`` bounds the disk the buffer takes, its write-ahead
log included (a 200 kB buffer took 4.66 MB, nearly all of it WAL). Real SQLite files."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from tests.unit.gateway.test_buffer import reading


def _on_disk(path: str) -> int:
    return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))


@pytest.mark.parametrize("uplink", ["down", "slow"])
def test_file_and_wal_stay_within_max_bytes(tmp_path: Path, uplink: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    max_bytes = 200_000  # about 560 rows: 12,000 readings go round it 20 times
    caplog.set_level(logging.ERROR, logger="siaga.gateway.buffer_totals")  # "buffer full"
    path = str(tmp_path / "b.sqlite3")
    buf = StoreAndForwardBuffer(BufferSettings(path=path, max_bytes=max_bytes, max_rows=0))
    peak = 0
    seq = 0
    for _ in range(150):
        buf.append([reading(seq := seq + 1, value=30 + j) for j in range(80)], [])
        if uplink == "slow":  # acks delete rows while more arrive
            batch = buf.peek_batch(60)
            if batch is not None:
                buf.settle(batch, {})
        peak = max(peak, _on_disk(path))
    stats = buf.stats()
    assert peak <= max_bytes, (peak, max_bytes)
    assert buf.disk_bytes() == _on_disk(path)
    # ... and the bound is used, not wasted: well over a third of it holds rows
    assert stats.bytes > max_bytes * 0.4
    assert stats.dropped_readings > 0
    buf.close()
