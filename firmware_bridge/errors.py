"""Errors of firmware_bridge: bad bytes or bad JSON from a device, or a frame we refuse to send.

::

    ValueError
     └── FirmwareBridgeError
          ├── FrameDecodeError(reason, detail, raw)     a serial line that is not a valid frame
          ├── FrameEncodeError(reason, detail)          a Frame the protocol cannot carry
          ├── DeviceMessageError(reason, detail, topic) an MQTT device message we cannot accept
          └── RegisterMapError(key, detail)             a Modbus register map that is not valid

``reason`` is a stable snake_case code (the same strings the C codec's
``siaga_error_name()`` returns for frames, see ``FRAME_ERROR_REASONS`` in
``codec.py``); ``detail`` is a human sentence. The streaming decoder never raises:
it returns ``frame_stream.DecodeError`` records carrying the same three values.
"""

from __future__ import annotations


class FirmwareBridgeError(ValueError):
    """Base of every error this package raises."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class FrameDecodeError(FirmwareBridgeError):
    """A serial line that is not a valid frame; ``raw`` is the line as received."""

    def __init__(self, reason: str, detail: str, raw: bytes) -> None:
        super().__init__(reason, detail)
        self.raw = raw


class FrameEncodeError(FirmwareBridgeError):
    """A Frame that breaks the protocol (bad node id, key, value, length, missing field...)."""


class DeviceMessageError(FirmwareBridgeError):
    """An MQTT device message (topic + JSON payload) that cannot be accepted."""

    def __init__(self, reason: str, detail: str, topic: str) -> None:
        super().__init__(reason, detail)
        self.topic = topic


class RegisterMapError(FirmwareBridgeError):
    """A Modbus register map (``modbus_map``) that is not valid; ``key`` is the dotted path
    of the field at fault (``maps/soil-probe.toml.point[1].type``)."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__("bad_register_map", f"{key}: {detail}")
        self.key = key
        self.problem = detail
