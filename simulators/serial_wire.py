"""A node message as the serial line its firmware would print (PROTOCOL.md)."""

from __future__ import annotations

from firmware_bridge.codec import UPTIME_KEY, Frame, encode_frame
from simulators.node import NodeMessage


def serial_line(message: NodeMessage) -> bytes:
    """``$SG,<type>,<node>,<seq>,...*CRC\\r\\n``; data frames carry the uptime in ``up``."""
    fields: dict[str, float | str] = dict(message.fields)
    if message.type == "D":
        fields[UPTIME_KEY] = message.uptime_ms
    return encode_frame(Frame(message.type, message.node, message.seq, fields))
