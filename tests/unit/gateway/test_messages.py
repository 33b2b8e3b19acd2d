"""``new_node_message`` (the MQTT source's fast constructor) makes exactly the NodeMessage
that ``NodeMessage(...)`` makes."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.gateway.messages import NodeMessage, new_node_message


@given(st.text(max_size=16), st.integers(0, 65535), st.text(max_size=20),
       st.floats(allow_nan=False))
def test_equals_the_dataclass_constructor(node: str, seq: int, source: str, at: float) -> None:
    message = DeviceMessage("up", node, seq, values={"vwc": 1.0})
    made, plain = new_node_message(message, source, at), NodeMessage(message, source, at)
    assert type(made) is NodeMessage and made == plain
    assert made.message is message and made.source is source and made.received_at is at
    assert repr(made) == repr(plain)


def test_it_is_frozen() -> None:
    item = new_node_message(DeviceMessage("up", "n", 1), "mqtt", 1.0)
    with pytest.raises(FrozenInstanceError):
        item.source = "serial"  # type: ignore[misc]
