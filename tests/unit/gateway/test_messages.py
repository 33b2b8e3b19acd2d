"""``new_node_message`` (the MQTT source's fast constructor) makes exactly the NodeMessage
that ``NodeMessage(...)`` makes, and names every field NodeMessage has."""

from __future__ import annotations

import inspect
from dataclasses import FrozenInstanceError, fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.gateway.messages import NodeMessage, new_node_message
from tests.slot_record_checks import assert_same_record


def test_it_takes_every_field_in_order() -> None:
    # A field added to NodeMessage must be added here too, or it would be left unset.
    assert list(inspect.signature(new_node_message).parameters) == [
        f.name for f in fields(NodeMessage)]


@given(st.text(max_size=16), st.integers(0, 65535), st.text(max_size=20),
       st.floats(allow_nan=False))
def test_equals_the_dataclass_constructor(node: str, seq: int, source: str, at: float) -> None:
    message = DeviceMessage("up", node, seq, values={"vwc": 1.0})
    made = new_node_message(message, source, at)
    assert_same_record(made, NodeMessage(message, source, at))
    assert made.message is message and made.source is source and made.received_at is at


def test_it_is_frozen() -> None:
    item = new_node_message(DeviceMessage("up", "n", 1), "mqtt", 1.0)
    with pytest.raises(FrozenInstanceError):
        item.source = "serial"  # type: ignore[misc]
