"""A node message as it goes on a wire: a serial line, or an MQTT device message."""

from __future__ import annotations

import dataclasses

from siaga.firmware_bridge.codec import UPTIME_KEY, Frame, encode_frame
from siaga.firmware_bridge.device_message import DeviceMessage, encode_device_message
from siaga.simulators.node import NodeMessage


def _frame(message: NodeMessage) -> Frame:
    fields: dict[str, float | str] = dict(message.fields)
    if message.type == "D":
        fields[UPTIME_KEY] = message.uptime_ms
    return Frame(message.type, message.node, message.seq, fields)


def serial_line(message: NodeMessage) -> bytes:
    """``$SG,<type>,<node>,<seq>,...*CRC\\r\\n``; data frames carry the uptime in ``up``."""
    return encode_frame(_frame(message))


def mqtt_message(message: NodeMessage, node_clock: bool = False) -> tuple[str, bytes]:
    """(topic, JSON payload) on ``siaga/node/<node>/up|hello|event``. With
    ``node_clock`` an up message carries the node's own time (``ts``, epoch ms):
    only right when simulated time runs with the wall clock (speed 1)."""
    device = DeviceMessage.from_frame(_frame(message))
    if node_clock and device.kind == "up":
        device = dataclasses.replace(device, ts_ms=round(message.ts * 1000))
    return encode_device_message(device)
