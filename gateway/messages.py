"""What the sources hand to the core thread: one shape for serial frames and MQTT messages.

A source decodes in its own thread (a serial ``Frame`` becomes the same
``DeviceMessage`` an MQTT payload does) and puts ``InboundBatch`` items on the core's
bounded queue. Records are frozen and slotted: they cross a thread boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.firmware_bridge.reading import iso_utc
from siaga.firmware_bridge.slot_records import slots_twin


@dataclass(frozen=True, slots=True)
class NodeMessage:
    """One decoded message from a node, whichever transport carried it, with where and
    when the gateway got it (POSIX seconds)."""

    message: DeviceMessage
    source: str  # "serial:/dev/ttyUSB0", "mqtt"
    received_at: float


@dataclass(frozen=True, slots=True)
class IngestError:
    """Bytes or a payload a decoder rejected; counted and printed, never fatal."""

    source: str
    received_at: float
    reason: str
    detail: str
    raw: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "error",
            "source": self.source,
            "reason": self.reason,
            "detail": self.detail,
            "raw": self.raw,
            "received_at": iso_utc(self.received_at),
        }


@dataclass(frozen=True, slots=True)
class SourceAlert:
    """An alert a source raised itself (a Modbus device that stopped answering): the core
    commits, prints and acts on it like a detector's."""

    alert: Alert
    source: str


def new_node_message(message: DeviceMessage, source: str, received_at: float) -> NodeMessage:
    """``NodeMessage(message, source, received_at)`` for the MQTT source's every message,
    filled in a twin of its slots (firmware_bridge/slot_records.py). Pinned to the
    constructor by tests/unit/gateway/test_messages.py."""
    item = _NodeMessageSlots()
    item.message = message
    item.source = source
    item.received_at = received_at
    item.__class__ = NodeMessage
    made: NodeMessage = item
    return made


_NodeMessageSlots = slots_twin(NodeMessage)
if _NodeMessageSlots is None:  # this CPython refuses the twin: NodeMessage's own constructor
    new_node_message = NodeMessage


Inbound = NodeMessage | IngestError | SourceAlert


@dataclass(frozen=True, slots=True)
class InboundBatch:
    """What a source puts on the queue. ``on_committed`` runs in the core thread once
    the batch's readings are durably buffered (and printed): the MQTT source acks its
    QoS 1 messages to the broker only then, so a crash before it loses nothing."""

    items: Sequence[Inbound]
    on_committed: Callable[[], None] | None = None


def raw_text(raw: bytes | str | None, limit: int = 300) -> str | None:
    """Bytes as printable text for logs and JSON lines, never longer than ``limit``."""
    if raw is None:
        return None
    text = raw.decode("ascii", "backslashreplace") if isinstance(raw, bytes) else raw
    return text if len(text) <= limit else text[:limit] + "..."
