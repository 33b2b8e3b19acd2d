"""The core's inbox counts messages, not batches: a flood cannot park more than
``queue_size`` decoded messages (plus one batch) in the gateway (issue 17)."""

from __future__ import annotations

import queue
import threading

import pytest

from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.gateway.core import Stop
from siaga.gateway.messages import InboundBatch, NodeMessage
from siaga.gateway.sources.handoff import Inbox, put_batch


def batch(n: int) -> InboundBatch:
    return InboundBatch([NodeMessage(DeviceMessage("up", "n1", s, values={"vwc": 1.0}),
                                     "mqtt", 0.0) for s in range(n)])


def test_qsize_counts_messages_and_a_full_inbox_refuses_more() -> None:
    inbox = Inbox(maxsize=300)
    inbox.put(batch(256))
    inbox.put(batch(256))  # 256 < 300: room, so it may go over by its own size
    assert inbox.qsize() == 512
    with pytest.raises(queue.Full):
        inbox.put(batch(1), timeout=0.01)
    with pytest.raises(queue.Full):
        inbox.put(Stop(), timeout=0.01)  # a command or Stop weighs one, and waits too
    assert len(inbox.get().items) == 256 and inbox.qsize() == 256
    inbox.put(Stop(), timeout=0.01)
    assert inbox.qsize() == 257


def test_an_empty_batch_still_counts_so_get_returns_it() -> None:
    inbox = Inbox(maxsize=10)
    inbox.put(InboundBatch([]))
    assert inbox.qsize() == 1
    assert inbox.get(timeout=0.1).items == []
    assert inbox.qsize() == 0
    with pytest.raises(queue.Empty):
        inbox.get_nowait()


def test_put_batch_blocks_until_the_core_takes_messages() -> None:
    inbox = Inbox(maxsize=100)
    inbox.put(batch(100))
    done = threading.Event()
    t = threading.Thread(target=lambda: (put_batch(inbox, batch(5), threading.Event(), "mqtt"),
                                         done.set()))
    t.start()
    assert not done.wait(0.2)  # full: the source waits (backpressure), nothing dropped
    inbox.get()
    assert done.wait(5)
    t.join(5)
    assert inbox.qsize() == 5
