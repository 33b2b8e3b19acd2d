"""MQTT device messages (docs/protocol.md, "MQTT device messages"), and the one record
the gateway handles for both transports.

A WiFi node publishes JSON on ``siaga/node/<node_id>/<kind>``:

=========  ===============  ======================================================
kind       direction        body
=========  ===============  ======================================================
``up``     node -> gateway  ``{"seq": int, "v": {"<channel>": number, ...},``
                            ``"ts"?: epoch ms, "up"?: uptime ms}``
``hello``  node -> gateway  ``{"seq": int, "fw": str, "ch": ["vwc", ...] | "a|b",``
                            ``"int": s}``
``event``  node -> gateway  ``{"seq": int, "code": str, "ch"?: str}``
``ack``    node -> gateway  ``{"cseq": int, "ok": 0 | 1, "seq"?: int}``
``cmd``    gateway -> node  ``{"seq": int, "cmd": str, "v"?: number}``
=========  ===============  ======================================================

``DeviceMessage`` is that record; ``DeviceMessage.from_frame`` makes the same record
from a serial ``Frame`` (D -> up, H -> hello, E -> event, C -> cmd, A -> ack), so the
gateway treats serial and MQTT nodes alike. Unknown top-level JSON keys are ignored,
so nodes may add fields; unknown channel keys in ``v`` are kept. The JSON rules the
decoder applies (strict parse, field checks) are in ``device_json``; here are the record,
topics, the per-kind builders and the encoder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from siaga.firmware_bridge.channels import CHANNELS
from siaga.firmware_bridge.codec import MAX_SEQ, UPTIME_KEY, FieldValue, Frame
from siaga.firmware_bridge.device_json import (
    CHANNEL_KEY,
    MAX_EXACT_INT,
    Reject,
    as_int,
    as_number,
    as_seq,
    channel_key,
    clean_json,
    exact,
    json_type,
    plain_json,
    required,
    strict_json,
    token,
)
from siaga.firmware_bridge.errors import DeviceMessageError, FrameEncodeError
from siaga.firmware_bridge.json_library import INT64_FLOAT_LIMIT
from siaga.firmware_bridge.slot_records import slots_twin

MessageKind = Literal["up", "hello", "event", "cmd", "ack"]

TOPIC_ROOT = "siaga/node"
NODE_KINDS: tuple[MessageKind, ...] = ("up", "hello", "event", "ack")
"""What nodes publish; the gateway subscribes to ``DEVICE_SUBSCRIPTIONS``."""
DEVICE_SUBSCRIPTIONS = tuple(f"{TOPIC_ROOT}/+/{kind}" for kind in NODE_KINDS)
DEFAULT_MAX_PAYLOAD_BYTES = 4096

FRAME_TYPE_KIND: dict[str, MessageKind] = {
    "D": "up", "H": "hello", "E": "event", "C": "cmd", "A": "ack",
}
KIND_FRAME_TYPE = {kind: frame_type for frame_type, kind in FRAME_TYPE_KIND.items()}

_NODE = re.compile(r"[A-Za-z0-9_-]{1,16}")
_KINDS = frozenset(FRAME_TYPE_KIND.values())


@dataclass(frozen=True, slots=True)
class DeviceMessage:
    """One message from (or to) a node, whichever transport carried it.

    Which fields are set depends on ``kind``: ``up`` -> values (+ ts_ms, uptime_ms);
    ``hello`` -> fw, channels, interval_s; ``event`` -> code (+ channel); ``cmd`` ->
    cmd (+ cmd_value); ``ack`` -> cseq, ok. ``seq`` is the sender's 0..65535 counter;
    it is None only for an MQTT ack that left it out. ``ts_ms`` (the node's clock,
    epoch ms) comes only over MQTT.
    """

    kind: MessageKind
    node: str
    seq: int | None
    values: dict[str, float] = field(default_factory=dict)
    ts_ms: int | None = None
    uptime_ms: int | None = None
    fw: str | None = None
    channels: tuple[str, ...] = ()
    interval_s: int | None = None
    code: str | None = None
    channel: str | None = None
    cmd: str | None = None
    cmd_value: float | None = None
    cseq: int | None = None
    ok: bool | None = None

    @classmethod
    def from_frame(cls, frame: Frame) -> DeviceMessage:
        """The record of a decoded serial frame (fields the record has no place for
        are left out; the Frame itself still has them)."""
        f = frame.fields
        kind = FRAME_TYPE_KIND[frame.type]
        if kind == "up":
            values = {k: cast(float, v) for k, v in f.items() if k != UPTIME_KEY}
            up = f.get(UPTIME_KEY)
            return cls(kind, frame.node, frame.seq, values=values,
                       uptime_ms=None if up is None else int(up))
        if kind == "hello":
            return cls(kind, frame.node, frame.seq, fw=str(f["fw"]),
                       channels=tuple(str(f["ch"]).split("|")), interval_s=int(f["int"]))
        if kind == "event":
            ch = f.get("ch")
            return cls(kind, frame.node, frame.seq, code=str(f["code"]),
                       channel=None if ch is None else str(ch))
        if kind == "cmd":
            v = f.get("v")
            return cls(kind, frame.node, frame.seq, cmd=str(f["cmd"]),
                       cmd_value=None if v is None else cast(float, v))
        return cls(kind, frame.node, frame.seq, cseq=int(f["cseq"]), ok=f["ok"] == 1)

    def to_frame(self) -> Frame:
        """The serial frame of this message (``ts_ms`` has no place in a frame and is
        left out). Raises FrameEncodeError for an ack without ``seq``."""
        if self.seq is None:
            raise FrameEncodeError("bad_seq", "a frame needs seq")
        fields: dict[str, FieldValue] = {}
        if self.kind == "up":
            fields.update(self.values)
            if self.uptime_ms is not None:
                fields[UPTIME_KEY] = self.uptime_ms
        elif self.kind == "hello":
            fields.update(fw=_given(self.fw), ch="|".join(self.channels),
                          int=_given(self.interval_s))
        elif self.kind == "event":
            fields["code"] = _given(self.code)
            if self.channel is not None:
                fields["ch"] = self.channel
        elif self.kind == "cmd":
            fields["cmd"] = _given(self.cmd)
            if self.cmd_value is not None:
                fields["v"] = self.cmd_value
        else:
            fields.update(cseq=_given(self.cseq), ok=int(bool(self.ok)))
        return Frame(KIND_FRAME_TYPE[self.kind], self.node, self.seq, fields)


def _given(value: Any) -> Any:
    if value is None:
        raise FrameEncodeError("missing_field", "a field the frame type needs is None")
    return value


# ---------------------------------------------------------------- topics


def device_topic(node: str, kind: MessageKind) -> str:
    return f"{TOPIC_ROOT}/{node}/{kind}"


def parse_device_topic(topic: str) -> tuple[str, MessageKind]:
    """``siaga/node/<node>/<kind>`` -> (node, kind); raises DeviceMessageError."""
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != TOPIC_ROOT or parts[3] not in _KINDS:
        raise DeviceMessageError(
            "bad_topic", f"expected {TOPIC_ROOT}/<node_id>/<up|hello|event|cmd|ack>", topic
        )
    if not _NODE.fullmatch(parts[2]):
        raise DeviceMessageError(
            "bad_node_id", f"node id {parts[2]!r}: 1-16 of A-Z a-z 0-9 - _", topic
        )
    return parts[2], parts[3]


# ---------------------------------------------------------------- decode


# Topics already parsed (a gateway hears the same few hundred again and again); cleared
# when full, so a flood of distinct topics costs parsing, not memory.
_TOPICS: dict[str, tuple[str, MessageKind]] = {}
_TOPICS_MAX = 4096


def decode_device_message(
    topic: str, payload: bytes, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
) -> DeviceMessage:
    """Validate one MQTT message; raises DeviceMessageError with a stable ``reason``:
    bad_topic, bad_node_id, oversized, not_json, nan_or_infinity, duplicate_key,
    not_object, missing_field, wrong_type, bad_seq, bad_key, bad_value."""
    parsed = _TOPICS.get(topic)
    if parsed is None:
        parsed = parse_device_topic(topic)
        if len(_TOPICS) >= _TOPICS_MAX:
            _TOPICS.clear()
        _TOPICS[topic] = parsed
    node, kind = parsed
    if len(payload) > max_bytes:
        raise DeviceMessageError(
            "oversized", f"{len(payload)} bytes, over the limit of {max_bytes}", topic
        )
    if kind == "up":
        message = _clean_up(node, payload)
        if message is not None:
            return message
    body = clean_json(payload)
    if body is None:
        body = strict_json(payload, topic)
    if not isinstance(body, dict):
        raise DeviceMessageError(
            "not_object", f"payload is a JSON {json_type(body)}, not an object", topic
        )
    try:
        return _BUILDERS[kind](node, body)
    except Reject as e:
        raise DeviceMessageError(e.reason, str(e), topic) from None


def _clean_up(node: str, payload: bytes) -> DeviceMessage | None:
    """The usual ``up`` message in one pass over its values, or None when it is not
    provably valid and equal to what ``clean_json`` and ``_up`` make of it (then they
    decide, errors included). Measured: decode_device_message 3.75 -> 3.23 us CPU for
    the kit's flood message; with orjson as ``plain_json`` (json_library.py), 3.76 -> 2.96 us.
    tests/unit/firmware_bridge/test_device_message_fast_path.py pins it to the strict
    parse, with either library.

    It takes: ``seq`` in range, ``v`` a non-empty object of table channels (or valid
    keys) with floats in (-2**63, 2**63) or exact integers, an integer ``ts`` >= 0 and
    ``up`` if given, and only scalars (such floats) beside them; with as many keys as ':'
    in the text (``clean_json``'s proof that no key was repeated)."""
    try:
        body = plain_json(payload)
    except (ValueError, RecursionError):
        return None
    if type(body) is not dict:
        return None
    seq, values = body.get("seq"), body.get("v")
    if (type(seq) is not int or not 0 <= seq <= MAX_SEQ or type(values) is not dict
            or not values or UPTIME_KEY in values):
        return None
    for key, value in values.items():
        kind = type(value)
        if kind is float:
            if not -INT64_FLOAT_LIMIT < value < INT64_FLOAT_LIMIT:  # plain_json's rule
                return None
        elif kind is not int or not -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
            return None
        if key not in _TABLE_KEYS and not CHANNEL_KEY.fullmatch(key):
            return None
    for key, value in body.items():
        kind = type(value)
        if kind is float:
            if not -INT64_FLOAT_LIMIT < value < INT64_FLOAT_LIMIT:
                return None
        elif (kind is dict or kind is list) and key != "v":
            return None
    ts = uptime = None
    if "ts" in body:
        ts = body["ts"]
        if type(ts) is not int or not 0 <= ts <= MAX_EXACT_INT:
            return None
    if UPTIME_KEY in body:
        uptime = body[UPTIME_KEY]
        if type(uptime) is not int or not -MAX_EXACT_INT <= uptime <= MAX_EXACT_INT:
            return None
    if len(body) + len(values) != payload.count(b":"):
        return None
    return _new_up(node, seq, values, ts, uptime)


def _up(node: str, body: dict[str, Any]) -> DeviceMessage:
    seq = body.get("seq")
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ:  # the usual case checked inline
        seq = as_seq(required(body, "seq"))
    raw_values = required(body, "v")
    if not isinstance(raw_values, dict):
        raise Reject("wrong_type", f"v must be an object, got {json_type(raw_values)}")
    if not raw_values:
        raise Reject("missing_field", "v holds no channel")
    if UPTIME_KEY in raw_values:
        raise Reject("bad_key", "v.up: uptime goes beside v, as \"up\", not among channels")
    for key, value in raw_values.items():
        # Table channels are valid keys; only other keys need the pattern.
        if key not in _TABLE_KEYS:
            channel_key(key, "channel")
        kind = type(value)
        if kind is int:
            if not -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
                exact(value, f"v.{key}")
        elif kind is not float:
            as_number(value, f"v.{key}")
    # Only str keys and int/float values got here: JSON numbers are never subclasses.
    values = raw_values
    ts_ms = uptime_ms = None
    if "ts" in body:
        ts = as_number(body["ts"], "ts")
        if ts < 0:
            raise Reject("bad_value", f"ts {ts} is before 1970")
        ts_ms = int(ts)
    if UPTIME_KEY in body:
        uptime_ms = as_int(body[UPTIME_KEY], UPTIME_KEY)
    return _new_up(node, seq, values, ts_ms, uptime_ms)


_TABLE_KEYS = frozenset(key for key in CHANNELS if CHANNEL_KEY.fullmatch(key))


def _new_up(node: str, seq: int, values: dict[str, float], ts_ms: int | None,
            uptime_ms: int | None) -> DeviceMessage:
    # Same result as DeviceMessage("up", ...), filled in a twin of its slots
    # (firmware_bridge/slot_records.py): the receive thread makes one for every message.
    message = _DeviceMessageSlots()
    message.kind = "up"
    message.node = node
    message.seq = seq
    message.values = values
    message.ts_ms = ts_ms
    message.uptime_ms = uptime_ms
    message.fw = None
    message.channels = ()
    message.interval_s = None
    message.code = None
    message.channel = None
    message.cmd = None
    message.cmd_value = None
    message.cseq = None
    message.ok = None
    message.__class__ = DeviceMessage
    made: DeviceMessage = message
    return made


def _plain_up(node: str, seq: int, values: dict[str, float], ts_ms: int | None,
              uptime_ms: int | None) -> DeviceMessage:
    return DeviceMessage("up", node, seq, values=values, ts_ms=ts_ms, uptime_ms=uptime_ms)


_DeviceMessageSlots = slots_twin(DeviceMessage)
if _DeviceMessageSlots is None:  # this CPython refuses the twin: the dataclass's constructor
    _new_up = _plain_up


def _hello(node: str, body: dict[str, Any]) -> DeviceMessage:
    seq = as_seq(required(body, "seq"))
    fw = token(required(body, "fw"), "fw")
    ch = required(body, "ch")
    if isinstance(ch, str):
        ch = ch.split("|")
    if not isinstance(ch, list) or not ch:
        raise Reject("wrong_type", "ch must be a non-empty array of channel names or 'a|b'")
    channels = tuple(channel_key(c, "ch entry") for c in ch)
    interval = as_int(required(body, "int"), "int")
    if interval < 1:
        raise Reject("bad_value", f"int {interval}: sample interval must be >= 1 s")
    return DeviceMessage("hello", node, seq, fw=fw, channels=channels, interval_s=interval)


def _event(node: str, body: dict[str, Any]) -> DeviceMessage:
    seq = as_seq(required(body, "seq"))
    code = token(required(body, "code"), "code")
    channel = channel_key(body["ch"], "ch") if "ch" in body else None
    return DeviceMessage("event", node, seq, code=code, channel=channel)


def _cmd(node: str, body: dict[str, Any]) -> DeviceMessage:
    seq = as_seq(required(body, "seq"))
    cmd = token(required(body, "cmd"), "cmd")
    value = as_number(body["v"], "v") if "v" in body else None
    return DeviceMessage("cmd", node, seq, cmd=cmd, cmd_value=value)


def _ack(node: str, body: dict[str, Any]) -> DeviceMessage:
    seq = as_seq(body["seq"]) if "seq" in body else None
    cseq = as_int(required(body, "cseq"), "cseq")
    if not 0 <= cseq <= MAX_SEQ:
        raise Reject("bad_value", f"cseq {cseq} not in 0..65535")
    ok = required(body, "ok")
    if ok not in (0, 1) or isinstance(ok, float):
        raise Reject("bad_value", f"ok must be 0 or 1 (or a boolean), got {ok!r}")
    return DeviceMessage("ack", node, seq, cseq=cseq, ok=bool(ok))


_BUILDERS = {"up": _up, "hello": _hello, "event": _event, "cmd": _cmd, "ack": _ack}


# ---------------------------------------------------------------- encode


def encode_device_message(message: DeviceMessage) -> tuple[str, bytes]:
    """(topic, payload) for a message; raises DeviceMessageError for one that
    ``decode_device_message`` would refuse (the payload is checked by decoding it)."""
    topic = device_topic(message.node, message.kind)
    body: dict[str, Any] = {}
    if message.seq is not None:
        body["seq"] = message.seq
    if message.kind == "up":
        body["v"] = message.values
        if message.ts_ms is not None:
            body["ts"] = message.ts_ms
        if message.uptime_ms is not None:
            body[UPTIME_KEY] = message.uptime_ms
    elif message.kind == "hello":
        body.update(fw=message.fw, ch=list(message.channels), int=message.interval_s)
    elif message.kind == "event":
        body["code"] = message.code
        if message.channel is not None:
            body["ch"] = message.channel
    elif message.kind == "cmd":
        body["cmd"] = message.cmd
        if message.cmd_value is not None:
            body["v"] = message.cmd_value
    else:
        body.update(cseq=message.cseq, ok=None if message.ok is None else int(message.ok))
    try:
        payload = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except ValueError as e:
        raise DeviceMessageError("nan_or_infinity", str(e), topic) from None
    except TypeError as e:
        raise DeviceMessageError("wrong_type", str(e), topic) from None
    decode_device_message(topic, payload)
    return topic, payload
