"""Wire formats from devices: the serial frame codec, MQTT device messages, the
channel table, the Reading record and the sample -> Reading conversion (stdlib only)."""

from firmware_bridge.channels import (
    CHANNELS,
    COUNTER_MODULUS,
    DEFAULT_MM_PER_TIP,
    ChannelSpec,
    channel_spec,
    reading_unit,
)
from firmware_bridge.codec import (
    FRAME_ERROR_REASONS,
    FRAME_TYPES,
    MAX_FRAME_BYTES,
    DecodeError,
    Frame,
    FrameDecoder,
    crc16,
    decode_frame,
    encode_frame,
)
from firmware_bridge.errors import (
    DeviceMessageError,
    FirmwareBridgeError,
    FrameDecodeError,
    FrameEncodeError,
)
from firmware_bridge.reading import Reading

__all__ = [
    "CHANNELS",
    "COUNTER_MODULUS",
    "DEFAULT_MM_PER_TIP",
    "FRAME_ERROR_REASONS",
    "FRAME_TYPES",
    "MAX_FRAME_BYTES",
    "ChannelSpec",
    "DecodeError",
    "DeviceMessageError",
    "FirmwareBridgeError",
    "Frame",
    "FrameDecodeError",
    "FrameDecoder",
    "FrameEncodeError",
    "Reading",
    "channel_spec",
    "crc16",
    "decode_frame",
    "encode_frame",
    "reading_unit",
]
