"""Putting a batch on the core's bounded queue: block when full (backpressure), never drop."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from siaga.gateway.messages import InboundBatch

log = logging.getLogger(__name__)

PUT_WAIT_S = 1.0


def put_batch(
    q: queue.Queue[Any], batch: InboundBatch, stop: threading.Event, source: str
) -> bool:
    """Block until the core takes the batch; False only when stopping with it unsent.

    A full queue means the core (or the disk under the buffer) is slower than the
    devices: waiting here pushes back on the serial line or the broker, which holds
    QoS 1 messages for us, instead of losing data in the gateway.
    """
    warned = False
    while True:
        try:
            q.put(batch, timeout=PUT_WAIT_S)
            if warned:
                log.info("%s: core queue has room again", source)
            return True
        except queue.Full:
            if stop.is_set():
                log.warning("%s: stopping with %d messages not handed to the core",
                            source, len(batch.items))
                return False
            if not warned:
                log.warning("%s: core queue full, holding input (backpressure)", source)
                warned = True
