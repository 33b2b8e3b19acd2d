"""The package's public API is deliberate: this pins it."""

from __future__ import annotations

from siaga import firmware_bridge


def test_public_api_is_pinned() -> None:
    assert sorted(firmware_bridge.__all__) == [
        "CHANNELS",
        "COUNTER_MODULUS",
        "ChannelSpec",
        "ConversionCounts",
        "DEFAULT_MAX_PAYLOAD_BYTES",
        "DEFAULT_MM_PER_TIP",
        "DEVICE_SUBSCRIPTIONS",
        "DecodeError",
        "DeviceMessage",
        "DeviceMessageError",
        "FRAME_ERROR_REASONS",
        "FRAME_TYPES",
        "FirmwareBridgeError",
        "Frame",
        "FrameDecodeError",
        "FrameDecoder",
        "FrameEncodeError",
        "MAX_FRAME_BYTES",
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
    for name in firmware_bridge.__all__:
        assert getattr(firmware_bridge, name) is not None


def test_errors_form_the_documented_tree() -> None:
    from siaga.firmware_bridge import errors

    assert issubclass(errors.FirmwareBridgeError, ValueError)
    for cls in (errors.FrameDecodeError, errors.FrameEncodeError, errors.DeviceMessageError):
        assert issubclass(cls, errors.FirmwareBridgeError)
        assert cls.__name__ in (errors.__doc__ or "")
