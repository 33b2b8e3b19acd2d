"""The running gateway's garbage-collector settings (gateway/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from siaga.gateway.collector import THRESHOLDS, tune_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_are_frozen_and_the_thresholds_raised() -> None:
    gc.unfreeze()
    tune_collector()
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored_collector")
def test_the_collector_still_runs_by_itself_after_the_first_threshold() -> None:
    tune_collector()
    runs: list[int] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(on_gc)
    try:
        kept = [[] for _ in range(THRESHOLDS[0] // 2)]
        assert runs == []  # not every 700 allocations any more
        kept += [[] for _ in range(THRESHOLDS[0])]
    finally:
        gc.callbacks.remove(on_gc)
    assert gc.isenabled() and runs, "cycles made while running must still be collected"
