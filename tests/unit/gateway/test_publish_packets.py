"""PUBLISH packets read from the receive buffer (gateway/sources/publish_packets.py) give
what paho's own receive path gives for the same bytes, and everything the fast path does not
take (other packets, an incomplete one, QoS 2, an empty topic, bad lengths) is left,
untouched, for paho."""

from __future__ import annotations

import socket
import struct

import paho.mqtt.client as mqtt
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from siaga.gateway.sources.publish_packets import split_publishes

PINGRESP = b"\xd0\x00"
SUBACK = b"\x90\x03\x00\x01\x01"


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 127, n >> 7
        out.append(byte | (128 if n else 0))
        if not n:
            return bytes(out)


def v5_properties(expiry: int | None, user: list[tuple[str, str]]) -> bytes:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if expiry is not None:
        props.MessageExpiryInterval = expiry
    if user:
        props.UserProperty = user
    return bytes(props.pack())  # type: ignore[no-untyped-call]


def publish(topic: bytes, payload: bytes, mid: int, qos: int, props: bytes | None = None,
            dup: bool = False, retain: bool = False) -> bytes:
    body = struct.pack("!H", len(topic)) + topic
    if qos:
        body += struct.pack("!H", mid)
    if props is not None:
        body += props
    body += payload
    header = 0x30 | qos << 1 | (8 if dup else 0) | (1 if retain else 0)
    return bytes([header]) + varint(len(body)) + body


def paho_decode(packet: bytes, v5: bool) -> tuple[bytes, bytes, int, int]:
    """What paho's own receive path makes of one whole packet: a real client reading it
    from a socket, as the gateway's client reads whatever the fast path leaves."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, manual_ack=True,
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    got: list[tuple[bytes, bytes, int, int]] = []
    client.on_message = lambda c, u, m: got.append((m._topic, m.payload, m.mid, m.qos))
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.setblocking(False)
        client._sock = theirs  # paho's socket, as after a connect
        ours.sendall(packet)
        while not got:
            assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
        client._sock = None
    return got[0]


# What paho accepts in a user property (the broker refuses the rest before forwarding).
property_text = st.text(st.characters(min_codepoint=1, blacklist_categories=("Cs",)), max_size=8)
messages = st.tuples(
    st.binary(min_size=1, max_size=80),  # topic bytes (the broker checks UTF-8, not we)
    st.binary(max_size=300),  # payload, empty included
    st.integers(1, 65535),
    st.sampled_from([0, 1]),
    st.booleans(), st.booleans(),
    st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    st.lists(st.tuples(property_text, property_text), max_size=2),
)


@given(st.lists(messages, min_size=1, max_size=8), st.booleans(), st.binary(max_size=4))
def test_each_packet_equals_pahos_decode(
    batch: list[tuple], v5: bool, before: bytes
) -> None:
    packets = [
        publish(t, p, mid, qos, v5_properties(exp, user) if v5 else None, dup, retain)
        for t, p, mid, qos, dup, retain, exp, user in batch
    ]
    buf = before + b"".join(packets) + PINGRESP
    got, end = split_publishes(buf, len(before), 100, v5)
    assert got == [paho_decode(p, v5) for p in packets]
    assert buf[end:] == PINGRESP  # the first packet it does not take is left whole


@given(st.lists(messages, min_size=1, max_size=4), st.booleans(), st.data())
def test_a_cut_anywhere_takes_only_the_whole_packets_before_it(
    batch: list[tuple], v5: bool, data: st.DataObject
) -> None:
    packets = [publish(t, p, mid, qos, v5_properties(None, []) if v5 else None)
               for t, p, mid, qos, *_ in batch]
    buf = b"".join(packets)
    cut = data.draw(st.integers(0, len(buf)))
    got, end = split_publishes(buf[:cut], 0, 100, v5)
    taken = 0
    for p in packets:
        if taken + len(p) > cut:
            break
        taken += len(p)
    assert b"".join(packets)[:end] == buf[:taken] and end == taken
    assert got == [paho_decode(p, v5) for p in packets][:len(got)]


def test_a_long_payload_has_a_multi_byte_remaining_length() -> None:
    for size in (126, 127, 128, 16_383, 16_384, 70_000):
        packet = publish(b"siaga/node/n1/up", b"x" * size, 7, 1)
        assert split_publishes(packet, 0, 10, False) == (
            [(b"siaga/node/n1/up", b"x" * size, 7, 1)], len(packet))


def test_the_limit_bounds_how_many_are_taken() -> None:
    buf = publish(b"a/b", b"1", 1, 1) * 5
    got, end = split_publishes(buf, 0, 3, False)
    assert len(got) == 3 and end == 3 * len(publish(b"a/b", b"1", 1, 1))


def test_what_paho_must_handle_is_left_to_it() -> None:
    ok = publish(b"a/b", b"{}", 9, 1)
    left_alone = {
        "another packet type": SUBACK,
        "QoS 2 (paho's PUBREC/PUBREL exchange)": publish(b"a/b", b"{}", 9, 2),
        "QoS 3 (malformed)": bytes([0x36]) + ok[1:],
        "empty topic (3.1.1: malformed; 5: a topic alias)": publish(b"", b"{}", 9, 1),
        "remaining length over four bytes": b"\x32\xff\xff\xff\xff\x01",
        "remaining length under a topic length": b"\x32\x01\x00",
        "topic longer than the packet": b"\x32\x04\x00\x09ab",
        "QoS 1 without room for the packet id": b"\x32\x03\x00\x01a",
    }
    for name, bad in left_alone.items():
        got, end = split_publishes(ok + bad + ok, 0, 10, False)
        assert (got, end) == ([(b"a/b", b"{}", 9, 1)], len(ok)), name


def test_v5_properties_longer_than_the_packet_are_left_to_paho() -> None:
    bad = b"\x32\x08\x00\x03a/b\x00\x01\x05"  # properties length 5, nothing after it
    assert split_publishes(bad, 0, 10, True) == ([], 0)
    assert split_publishes(b"\x32\x07\x00\x03a/b\x00\x01", 0, 10, True) == ([], 0)
