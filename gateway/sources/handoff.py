"""The core's inbox, bounded in messages, and putting a batch on it: block when full
(backpressure), never drop."""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from typing import Any

from siaga.gateway.messages import InboundBatch

log = logging.getLogger(__name__)

PUT_WAIT_S = 1.0


def _weight(item: Any) -> int:
    return max(1, len(item.items)) if isinstance(item, InboundBatch) else 1


class Inbox(queue.Queue[Any]):
    """A ``queue.Queue`` whose ``maxsize`` counts messages, not items.

    Sources hand over batches of up to a few hundred messages: bounded by batches, a
    1,000-item queue let a flood park ~17,000 decoded messages (about 30 MB) in the
    gateway, since the broker's in-flight window did not hold them back (measured in
    the side-by-side kit, issue 17). A put blocks while ``maxsize`` messages wait (one
    batch may go over by its own size); ``qsize()`` is the messages waiting. Commands
    and the core's ``Stop`` weigh one.
    """

    def _init(self, maxsize: int) -> None:
        self.queue: deque[Any] = deque()
        self._messages = 0

    def _qsize(self) -> int:
        return self._messages

    def _put(self, item: Any) -> None:
        self.queue.append(item)
        self._messages += _weight(item)

    def _get(self) -> Any:
        item = self.queue.popleft()
        self._messages -= _weight(item)
        return item


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
