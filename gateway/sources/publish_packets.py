"""PUBLISH packets taken straight from the receive buffer, without paho's per-packet path.

paho-mqtt 2.x handles each incoming PUBLISH in about a dozen Python calls: three or more
``recv`` for the fixed header and body, ``decode_publish`` (``struct`` formats built per
packet), an ``MQTTMessage``, a debug-log call, and a walk of its topic-filter matcher
(``MQTTMatcher.iter_match``) under a lock before the plain ``on_message`` is called.
In a flood of ~100-byte device messages that was most of the gateway's receive cost
(``tests/benchmarks/bench_mqtt_receive.py``; docs/gateway.md, "Performance").

``split_publishes`` reads the complete PUBLISH packets at the front of what the receive
buffer (gateway/sources/buffered_socket.py) already holds: topic, payload, packet id and
QoS, as paho's receive path gives them (tests/unit/gateway/test_publish_packets.py pins
the two together).
It stops before the first packet it does not take, and leaves that one, and everything
after it, to paho, which handles it as it always did: any other packet type (SUBACK,
PINGRESP, PUBACK of our own publishes...), an incomplete packet, and every packet paho
judges malformed or that needs paho's state (QoS 2 with its PUBREC/PUBREL exchange, QoS
3, an empty topic, a remaining length over four bytes, lengths that do not fit).

MQTT 5 properties are skipped, not parsed: the gateway reads none of them (and paho
resolves no topic alias it did not ask for; the gateway asks for none), and the broker
has checked their encoding. Pure: no socket, no paho state.
"""

from __future__ import annotations

PUBLISH = 0x30
# Our subscriptions are QoS 1, so a broker sends QoS 0 or 1; QoS 2 needs paho's exchange.
_TAKEN_QOS = (0, 1)

Publish = tuple[bytes, bytes, int, int]
"""(topic, payload, packet id (0 at QoS 0), QoS)"""


def split_publishes(
    buf: bytes, pos: int, limit: int, v5: bool
) -> tuple[list[Publish], int]:
    """The complete QoS 0/1 PUBLISH packets in ``buf`` from ``pos`` (at most ``limit``),
    and the position after the last one taken. ``v5``: MQTT 5 packets (properties
    after the packet id, skipped: the gateway reads none of them)."""
    out: list[Publish] = []
    n = len(buf)
    while len(out) < limit and pos < n:
        header = buf[pos]
        qos = (header >> 1) & 3
        if header & 0xF0 != PUBLISH or qos not in _TAKEN_QOS:
            break
        # Remaining length: 1-4 bytes, 7 bits each, least significant first. Read inline
        # here and for the v5 properties below, not by a shared function: with one, a
        # packet took 10-12% more CPU (14-20% under MQTT 5, two calls; 0.58 -> 0.64 us).
        # Measured on Python 3.11, this function against a copy calling the shared read:
        # one buffer of 1,000 QoS 1 PUBLISHes (100-byte payloads), timeit with
        # time.process_time, best of 7 runs of 200 calls, three runs.
        i = pos + 1
        length = shift = 0
        while i < n and shift <= 21:
            byte = buf[i]
            i += 1
            length |= (byte & 127) << shift
            if not byte & 128:
                break
            shift += 7
        else:
            break  # incomplete, or over four bytes (paho refuses it)
        end = i + length
        if end > n or length < 2:
            break
        topic_end = body = i + 2 + ((buf[i] << 8) | buf[i + 1])
        if topic_end == i + 2:
            break  # an empty topic: an error under 3.1.1, a topic alias under 5
        mid = 0
        if qos:
            if body + 2 > end:
                break
            mid = (buf[body] << 8) | buf[body + 1]
            body += 2
        if v5:
            props = shift = 0
            while body < end and shift <= 21:
                byte = buf[body]
                body += 1
                props |= (byte & 127) << shift
                if not byte & 128:
                    break
                shift += 7
            else:
                break
            body += props
        if body > end:
            break
        out.append((buf[i + 2:topic_end], buf[body:end], mid, qos))
        pos = end
    return out, pos
