"""Fixtures the uplink tests share: the store-and-forward buffer an uplink sends from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings


@pytest.fixture
def buffer(tmp_path: Path) -> Iterator[StoreAndForwardBuffer]:
    b = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "buffer.sqlite3")))
    yield b
    b.close()
