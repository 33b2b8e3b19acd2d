"""The cyclic garbage collector's settings for a running gateway (issue 17: CPU per reading).

Each device message makes a few dozen short-lived objects (the parsed JSON, the
message record, two Readings, their buffered JSON) that reference counting frees
when the core's batch is committed; almost none are in cycles. With CPython's default
first-generation threshold (700 allocations) the collector ran several times per batch
of a flood and walked every object still alive in it, promoting the batch to the older
generations, whose collections then walked the detectors' windows and every object
made at start (modules, settings, pydantic schemas): 2.2-2.5 us of CPU per message in
the core and receive threads together (measured with ``gc.callbacks``; the message path
costs ~30 us in all).

So ``siaga-gateway run``, once the runtime is built, collects once, freezes what exists
then (``gc.freeze``: start-up objects live as long as the process, and the collector
stops walking them) and raises the thresholds to the hub's (api/ingest/service.py
``GC_THRESHOLDS``, measured there: a 5,000-reading batch). Cycles are still collected,
only less often; the memory they hold until then is bounded by the first threshold's
count of objects. docs/gateway.md "Performance" has the figures.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def tune_collector(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Collect, freeze the objects that exist now, and set ``thresholds``. Call once the
    process has built what it keeps for its life, before the message flow starts."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
