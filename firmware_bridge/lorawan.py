"""LoRaWAN network servers' MQTT JSON: uplinks in, confirmed downlinks out, their acks.

Pure. Two network servers, as their documentation shapes the messages:

ChirpStack v4 (MQTT integration, JSON marshaler)
    uplink   ``application/<application id>/device/<devEui>/event/up``:
             ``{"deviceInfo": {"applicationId", "deviceProfileName", "deviceName",
             "devEui", ...}, "fCnt", "fPort", "data": base64, "object"?: {...},
             "rxInfo": [{"gatewayId", "rssi", "snr", ...}], ...}``
    downlink ``application/<application id>/device/<devEui>/command/down``:
             ``{"devEui", "confirmed": true, "fPort", "data": base64}``
    ack      ``application/<application id>/device/<devEui>/event/ack``:
             ``{"deviceInfo": {...}, "acknowledged": bool, "fCntDown"?}``
The Things Stack v3 (MQTT server)
    uplink   ``v3/<application id>[@tenant]/devices/<device id>/up``:
             ``{"end_device_ids": {"device_id", "dev_eui", ...}, "uplink_message":
             {"f_port", "f_cnt", "frm_payload": base64, "decoded_payload"?: {...},
             "rx_metadata": [{"gateway_ids": {"gateway_id"}, "rssi", "snr"}]}}``
    downlink ``v3/<application id>[@tenant]/devices/<device id>/down/push``:
             ``{"downlinks": [{"f_port", "frm_payload", "confirmed": true,
             "correlation_ids": ["siaga:cseq:<n>"]}]}``
    ack      ``.../down/ack`` (``downlink_ack``), ``.../down/nack``, ``.../down/failed``,
             each echoing the downlink's ``correlation_ids``.

Both leave out empty fields (TTS omits ``f_cnt`` 0 and ``f_port`` 0), so a missing
counter is 0. Errors are ``DeviceMessageError(reason, detail, topic)`` with the
reasons the device-message decoder uses (not_json, not_object, missing_field,
wrong_type, bad_value, bad_topic, oversized).

Commands to LoRaWAN nodes travel as a documented byte layout on ``COMMAND_F_PORT``:
``[command code][command number & 0xFF][value, s32 big-endian, optional]`` with the
codes in ``COMMAND_CODES``.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from dataclasses import dataclass
from typing import Any, Literal

from siaga.firmware_bridge.errors import DeviceMessageError

Flavour = Literal["chirpstack", "tts"]
FLAVOURS: tuple[Flavour, ...] = ("chirpstack", "tts")
UPLINK_TOPICS: dict[str, str] = {
    "chirpstack": "application/+/device/+/event/up",
    "tts": "v3/+/devices/+/up",
}
ACK_TOPICS: dict[str, tuple[str, ...]] = {
    "chirpstack": ("application/+/device/+/event/ack",),
    "tts": ("v3/+/devices/+/down/ack", "v3/+/devices/+/down/nack",
            "v3/+/devices/+/down/failed"),
}
MAX_JSON_BYTES = 65536
COMMAND_F_PORT = 10
COMMAND_CODES: dict[str, int] = {"interval": 1, "ping": 2, "reboot": 3, "calib": 4, "siren": 5}
CORRELATION_PREFIX = "siaga:cseq:"


@dataclass(frozen=True, slots=True)
class RadioInfo:
    """The best gateway's reception of one uplink, and how many gateways heard it."""

    rssi: float | None = None
    snr: float | None = None
    gateway_id: str | None = None
    gateways: int = 0


@dataclass(frozen=True, slots=True)
class LorawanUplink:
    application: str  # as in the topic: where downlinks to this device go
    device: str  # ChirpStack deviceName, TTS device_id
    dev_eui: str
    profile: str | None  # ChirpStack deviceProfileName (TTS has none in the uplink)
    f_cnt: int
    f_port: int
    payload: bytes
    decoded: dict[str, Any] | None  # the network server's decoded object, if it has one
    radio: RadioInfo


@dataclass(frozen=True, slots=True)
class DownlinkAck:
    application: str
    device: str  # ChirpStack: the devEui (its topic names no device name); TTS device_id
    acknowledged: bool
    cseq: int | None = None  # TTS echoes our correlation id; ChirpStack does not


def _reject(reason: str, detail: str, topic: str) -> DeviceMessageError:
    return DeviceMessageError(reason, detail, topic)


def _body(topic: str, payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_JSON_BYTES:
        raise _reject("oversized", f"{len(payload)} bytes, over {MAX_JSON_BYTES}", topic)
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise _reject("not_json", str(e), topic) from None
    if not isinstance(body, dict):
        raise _reject("not_object", "the message is not a JSON object", topic)
    return body


def _table(body: dict[str, Any], key: str, topic: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise _reject("missing_field", f"{key} (an object) is missing", topic)
    return value


def _text(body: dict[str, Any], key: str, topic: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        raise _reject("missing_field" if value is None else "wrong_type",
                      f"{key} must be a non-empty string", topic)
    return value


def _count(body: dict[str, Any], key: str, topic: str, hi: int) -> int:
    value = body.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
        raise _reject("bad_value", f"{key} must be an integer 0..{hi}, got {value!r}", topic)
    return value


def _payload(body: dict[str, Any], key: str, topic: str) -> bytes:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise _reject("wrong_type", f"{key} must be base64 text", topic)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _reject("bad_value", f"{key} is not valid base64", topic) from None


def _radio(entries: Any, gateway_of: Any) -> RadioInfo:
    if not isinstance(entries, list):
        return RadioInfo()
    best: dict[str, Any] | None = None
    for e in entries:
        if isinstance(e, dict) and isinstance(e.get("rssi"), int | float) and (
                best is None or e["rssi"] > best["rssi"]):
            best = e
    if best is None:
        return RadioInfo(gateways=len(entries))
    snr = best.get("snr")
    gw = gateway_of(best)
    return RadioInfo(float(best["rssi"]),
                     float(snr) if isinstance(snr, int | float) and not isinstance(snr, bool)
                     else None, gw if isinstance(gw, str) else None, len(entries))


def _topic_parts(topic: str, flavour: Flavour) -> tuple[str, str]:
    """(application, device-or-devEui) from an uplink or event topic."""
    parts = topic.split("/")
    if flavour == "chirpstack" and len(parts) == 6 and parts[0] == "application" \
            and parts[2] == "device" and parts[3] and parts[1]:
        return parts[1], parts[3]
    if flavour == "tts" and len(parts) >= 4 and parts[0] == "v3" and parts[2] == "devices" \
            and parts[1] and parts[3]:
        return parts[1], parts[3]
    raise _reject("bad_topic", f"not a {flavour} device topic", topic)


def parse_uplink(flavour: Flavour, topic: str, payload: bytes) -> LorawanUplink:
    application, _ = _topic_parts(topic, flavour)
    body = _body(topic, payload)
    if flavour == "chirpstack":
        info = _table(body, "deviceInfo", topic)
        decoded = body.get("object")
        return LorawanUplink(
            application=application,
            device=_text(info, "deviceName", topic),
            dev_eui=_text(info, "devEui", topic).lower(),
            profile=info.get("deviceProfileName") if isinstance(
                info.get("deviceProfileName"), str) else None,
            f_cnt=_count(body, "fCnt", topic, 2**32 - 1),
            f_port=_count(body, "fPort", topic, 255),
            payload=_payload(body, "data", topic),
            decoded=decoded if isinstance(decoded, dict) and decoded else None,
            radio=_radio(body.get("rxInfo"), lambda e: e.get("gatewayId")),
        )
    ids = _table(body, "end_device_ids", topic)
    up = _table(body, "uplink_message", topic)
    decoded = up.get("decoded_payload")
    return LorawanUplink(
        application=application,
        device=_text(ids, "device_id", topic),
        dev_eui=str(ids.get("dev_eui", "")).lower(),
        profile=None,
        f_cnt=_count(up, "f_cnt", topic, 2**32 - 1),
        f_port=_count(up, "f_port", topic, 255),
        payload=_payload(up, "frm_payload", topic),
        decoded=decoded if isinstance(decoded, dict) and decoded else None,
        radio=_radio(up.get("rx_metadata"), lambda e: (e.get("gateway_ids") or {}).get(
            "gateway_id") if isinstance(e.get("gateway_ids"), dict) else None),
    )


def parse_ack(flavour: Flavour, topic: str, payload: bytes) -> DownlinkAck:
    application, device = _topic_parts(topic, flavour)
    body = _body(topic, payload)
    if flavour == "chirpstack":
        acked = body.get("acknowledged", False)
        if not isinstance(acked, bool):
            raise _reject("wrong_type", "acknowledged must be true or false", topic)
        return DownlinkAck(application, device.lower(), acked)
    kind = topic.rsplit("/", 1)[-1]
    event = body.get({"ack": "downlink_ack", "nack": "downlink_nack",
                      "failed": "downlink_failed"}.get(kind, ""), {})
    if isinstance(event, dict) and "downlink" in event:  # downlink_failed wraps it
        event = event["downlink"]
    ids = event.get("correlation_ids") if isinstance(event, dict) else None
    ids = ids if isinstance(ids, list) else body.get("correlation_ids", [])
    return DownlinkAck(application, device, kind == "ack", _cseq_of(ids))


def _cseq_of(ids: Any) -> int | None:
    if not isinstance(ids, list):
        return None
    for cid in ids:
        if isinstance(cid, str) and cid.startswith(CORRELATION_PREFIX):
            tail = cid[len(CORRELATION_PREFIX):]
            if tail.isdigit():
                return int(tail)
    return None


def command_payload(cmd: str, cseq: int, value: float | None) -> bytes:
    """The documented command layout: code, command number (low byte), value (s32)."""
    code = COMMAND_CODES[cmd]
    head = bytes([code, cseq & 0xFF])
    return head if value is None else head + struct.pack(">i", round(value))


def downlink(flavour: Flavour, application: str, device: str, dev_eui: str, data: bytes,
             cseq: int, f_port: int = COMMAND_F_PORT) -> tuple[str, bytes]:
    """(topic, JSON payload) queueing a confirmed downlink at the network server."""
    b64 = base64.b64encode(data).decode()
    if flavour == "chirpstack":
        return (f"application/{application}/device/{dev_eui}/command/down",
                json.dumps({"devEui": dev_eui, "confirmed": True, "fPort": f_port,
                            "data": b64}).encode())
    return (f"v3/{application}/devices/{device}/down/push",
            json.dumps({"downlinks": [{"f_port": f_port, "frm_payload": b64,
                                       "confirmed": True, "priority": "NORMAL",
                                       "correlation_ids": [f"{CORRELATION_PREFIX}{cseq}"]}]
                        }).encode())
