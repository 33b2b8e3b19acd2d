"""Wire formats from devices: the serial frame codec, MQTT device messages, the
channel table, the Reading record and the sample -> Reading conversion (stdlib only).

Two more contracts live here because both the gateway and the hub import them:
``firmware_bridge.uplink`` (the gateway -> hub records, docs/uplink.md; their JSON in
``firmware_bridge.uplink_codec``) and
``firmware_bridge.vocabulary`` (the hazards and the four warning levels)."""

from siaga.firmware_bridge.channels import (
    CHANNELS,
    COUNTER_MODULUS,
    DEFAULT_MM_PER_TIP,
    ChannelSpec,
    channel_spec,
    reading_unit,
)
from siaga.firmware_bridge.codec import (
    FRAME_ERROR_REASONS,
    FRAME_TYPES,
    MAX_FRAME_BYTES,
    Frame,
    crc16,
    decode_frame,
    encode_frame,
)
from siaga.firmware_bridge.convert import ConversionCounts, SampleConverter
from siaga.firmware_bridge.device_message import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEVICE_SUBSCRIPTIONS,
    DeviceMessage,
    MessageKind,
    decode_device_message,
    device_topic,
    encode_device_message,
    parse_device_topic,
)
from siaga.firmware_bridge.errors import (
    DeviceMessageError,
    FirmwareBridgeError,
    FrameDecodeError,
    FrameEncodeError,
)
from siaga.firmware_bridge.frame_stream import DecodeError, FrameDecoder
from siaga.firmware_bridge.reading import Reading

__all__ = [
    "CHANNELS",
    "COUNTER_MODULUS",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "DEFAULT_MM_PER_TIP",
    "DEVICE_SUBSCRIPTIONS",
    "FRAME_ERROR_REASONS",
    "FRAME_TYPES",
    "MAX_FRAME_BYTES",
    "ChannelSpec",
    "ConversionCounts",
    "DecodeError",
    "DeviceMessage",
    "DeviceMessageError",
    "FirmwareBridgeError",
    "Frame",
    "FrameDecodeError",
    "FrameDecoder",
    "FrameEncodeError",
    "MessageKind",
    "Reading",
    "SampleConverter",
    "channel_spec",
    "crc16",
    "decode_device_message",
    "decode_frame",
    "device_topic",
    "encode_device_message",
    "encode_frame",
    "parse_device_topic",
    "reading_unit",
]
