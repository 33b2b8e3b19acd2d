"""Network-server JSON and payload codecs, on message shapes from the servers' own docs.

CHIRPSTACK_UP follows the JSON event example of ChirpStack v4's MQTT integration
(deviceInfo, fCnt, fPort, data, object, rxInfo); TTS_UP follows the uplink example of
The Things Stack's "Data formats" page (end_device_ids, uplink_message with f_port,
f_cnt, frm_payload, decoded_payload, rx_metadata). Values are ours.
"""

from __future__ import annotations

import base64
import json
import struct

import pytest

from siaga.firmware_bridge.errors import DeviceMessageError
from siaga.firmware_bridge.lorawan import (
    command_payload,
    downlink,
    parse_ack,
    parse_uplink,
)
from siaga.firmware_bridge.payload_codecs import (
    ByteLayout,
    PayloadError,
    decode_cayenne_lpp,
    encode_cayenne_lpp,
)

CS_TOPIC = "application/95856ede-1238-4272-b616-41f18dc10fc3/device/24e124136c506271/event/up"
CHIRPSTACK_UP = {
    "deduplicationId": "d078d70c-411a-475d-adca-c8436a0cfad9",
    "time": "2023-07-28T04:10:22Z",
    "deviceInfo": {
        "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", "tenantName": "BPBD Batu",
        "applicationId": "95856ede-1238-4272-b616-41f18dc10fc3", "applicationName": "siaga",
        "deviceProfileId": "8508772d-b04a-4d5f-ab3d-ab8d954f65c9",
        "deviceProfileName": "rain-lpp", "deviceName": "rain-bumiaji-01",
        "devEui": "24e124136c506271", "tags": {},
    },
    "devAddr": "78000025", "adr": True, "dr": 5, "fCnt": 967, "fPort": 85,
    "data": "AWQAAAQY",
    "rxInfo": [
        {"gatewayId": "85cdd87a616b30f8", "uplinkId": 16591, "rssi": -86, "snr": 13.2,
         "crcStatus": "CRC_OK"},
        {"gatewayId": "0016c001ff10a235", "uplinkId": 9, "rssi": -112, "snr": -3.0},
    ],
    "txInfo": {"frequency": 923200000},
}
TTS_TOPIC = "v3/siaga-batu@ttn/devices/rain-gauge-07/up"
TTS_UP = {
    "end_device_ids": {
        "device_id": "rain-gauge-07", "application_ids": {"application_id": "siaga-batu"},
        "dev_eui": "0004A30B001C0530", "join_eui": "800000000000000C", "dev_addr": "00BCB929",
    },
    "correlation_ids": ["as:up:01DYMZ1NKBT0B8NACFV6NJWG2J"],
    "received_at": "2020-01-15T16:02:10.668892406Z",
    "uplink_message": {
        "session_key_id": "AW+poh7YEnPnhTgVoA5a2A==", "f_port": 102, "f_cnt": 13,
        "frm_payload": "AdsmAADiAAA=",
        "decoded_payload": {"rain": 226, "batt": 3.6, "status": "ok"},
        "rx_metadata": [{"gateway_ids": {"gateway_id": "tektelic-1", "eui": "0016C001FF10A235"},
                         "timestamp": 1453994219, "rssi": -97, "channel_rssi": -97,
                         "snr": 9.5, "channel_index": 1}],
    },
}


def test_chirpstack_uplink_fields_and_the_best_gateway() -> None:
    up = parse_uplink("chirpstack", CS_TOPIC, json.dumps(CHIRPSTACK_UP).encode())
    assert (up.device, up.dev_eui, up.profile, up.f_cnt, up.f_port) == (
        "rain-bumiaji-01", "24e124136c506271", "rain-lpp", 967, 85)
    assert up.application == "95856ede-1238-4272-b616-41f18dc10fc3"
    assert up.decoded is None and up.payload == base64.b64decode("AWQAAAQY")
    assert (up.radio.rssi, up.radio.snr, up.radio.gateway_id, up.radio.gateways) == (
        -86.0, 13.2, "85cdd87a616b30f8", 2)


def test_tts_uplink_with_a_decoded_payload_and_omitted_zero_counter() -> None:
    up = parse_uplink("tts", TTS_TOPIC, json.dumps(TTS_UP).encode())
    assert (up.application, up.device, up.f_cnt, up.decoded) == (
        "siaga-batu@ttn", "rain-gauge-07", 13, {"rain": 226, "batt": 3.6, "status": "ok"})
    assert (up.radio.rssi, up.radio.snr, up.radio.gateway_id) == (-97.0, 9.5, "tektelic-1")
    body = json.loads(json.dumps(TTS_UP))
    del body["uplink_message"]["f_cnt"]  # TTS omits empty fields: f_cnt 0
    assert parse_uplink("tts", TTS_TOPIC, json.dumps(body).encode()).f_cnt == 0


@pytest.mark.parametrize(("flavour", "topic", "payload", "reason"), [
    ("chirpstack", CS_TOPIC, b"{not json", "not_json"),
    ("chirpstack", CS_TOPIC, b"[1, 2]", "not_object"),
    ("chirpstack", CS_TOPIC, b"{}", "missing_field"),
    ("chirpstack", "application/x/event/up", json.dumps(CHIRPSTACK_UP).encode(), "bad_topic"),
    ("chirpstack", CS_TOPIC, json.dumps({**CHIRPSTACK_UP, "fCnt": -1}).encode(), "bad_value"),
    ("chirpstack", CS_TOPIC, json.dumps({**CHIRPSTACK_UP, "fCnt": 2**32}).encode(),
     "bad_value"),
    ("chirpstack", CS_TOPIC, json.dumps({**CHIRPSTACK_UP, "data": "**"}).encode(), "bad_value"),
    ("chirpstack", CS_TOPIC, json.dumps({**CHIRPSTACK_UP, "deviceInfo": {
        **CHIRPSTACK_UP["deviceInfo"], "deviceName": 7}}).encode(), "wrong_type"),  # type: ignore[dict-item]
    ("tts", TTS_TOPIC, json.dumps({"end_device_ids": {"device_id": "x"}}).encode(),
     "missing_field"),
    ("tts", TTS_TOPIC, b"x" * 70000, "oversized"),
])
def test_malformed_uplinks_are_refused_with_a_reason(flavour: str, topic: str, payload: bytes,
                                                     reason: str) -> None:
    with pytest.raises(DeviceMessageError) as e:
        parse_uplink(flavour, topic, payload)  # type: ignore[arg-type]
    assert e.value.reason == reason


def test_confirmed_downlinks_and_their_acks_in_both_shapes() -> None:
    data = command_payload("siren", 300, 120)
    assert data == bytes([5, 300 & 0xFF]) + struct.pack(">i", 120)
    topic, body = downlink("chirpstack", "app-1", "rain-bumiaji-01", "24e124136c506271", data,
                           300)
    assert topic == "application/app-1/device/24e124136c506271/command/down"
    assert json.loads(body) == {"devEui": "24e124136c506271", "confirmed": True, "fPort": 10,
                                "data": base64.b64encode(data).decode()}
    ack = parse_ack("chirpstack", "application/app-1/device/24e124136c506271/event/ack",
                    json.dumps({"deviceInfo": {}, "acknowledged": True, "fCntDown": 3}).encode())
    assert (ack.device, ack.acknowledged, ack.cseq) == ("24e124136c506271", True, None)
    topic, body = downlink("tts", "siaga-batu@ttn", "rain-gauge-07", "", data, 300)
    assert topic == "v3/siaga-batu@ttn/devices/rain-gauge-07/down/push"
    pushed = json.loads(body)["downlinks"][0]
    assert pushed["confirmed"] is True and pushed["correlation_ids"] == ["siaga:cseq:300"]
    ids = {"correlation_ids": ["as:downlink:01", "siaga:cseq:300"]}
    ok = parse_ack("tts", "v3/siaga-batu@ttn/devices/rain-gauge-07/down/ack",
                   json.dumps({"downlink_ack": ids}).encode())
    nack = parse_ack("tts", "v3/siaga-batu@ttn/devices/rain-gauge-07/down/nack",
                     json.dumps({"downlink_nack": ids}).encode())
    failed = parse_ack("tts", "v3/siaga-batu@ttn/devices/rain-gauge-07/down/failed",
                       json.dumps({"downlink_failed": {"downlink": ids}}).encode())
    assert (ok.acknowledged, ok.cseq) == (True, 300)
    assert (nack.acknowledged, nack.cseq, failed.acknowledged, failed.cseq) == (
        False, 300, False, 300)


def test_cayenne_lpp_the_specification_example() -> None:
    # The LPP documentation's example: two temperature sensors, 27.2 and 25.5 degC.
    payload = bytes.fromhex("03670110056700FF")
    assert decode_cayenne_lpp(payload, {3: "temp", 5: "temp_b"}) == {
        "temp": 27.2, "temp_b": 25.5}
    assert decode_cayenne_lpp(payload, {3: "temp"}) == {"temp": 27.2}  # unmapped: ignored


def test_cayenne_lpp_round_trip_and_skipped_types() -> None:
    payload = encode_cayenne_lpp([(1, 100, 1046), (2, 2, -12.34), (5, 116, 3.92)])
    gps = bytes([9, 136]) + bytes(9)
    assert decode_cayenne_lpp(payload + gps, {1: "rain", 2: "tilt", 5: "batt", 9: "gps"}) == {
        "rain": 1046.0, "tilt": -12.34, "batt": 3.92}


@pytest.mark.parametrize(("payload", "reason"), [
    (bytes([1]), "lpp_truncated"),
    (bytes([1, 103, 0]), "lpp_truncated"),
    (bytes([1, 99, 0, 0]), "lpp_unknown_type"),
])
def test_bad_lpp_is_refused(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as e:
        decode_cayenne_lpp(payload, {1: "rain"})
    assert e.value.reason == reason


def test_byte_layout_from_data_decodes_and_refuses_short_payloads() -> None:
    layout = ByteLayout.from_toml([
        {"channel": "rain", "offset": 0, "type": "u32"},
        {"channel": "batt", "offset": 4, "type": "u16", "order": "little", "scale": 0.001},
        {"channel": "temp", "offset": 6, "type": "s8", "add": 0.5},
    ], "p.field")
    assert layout.decode(bytes.fromhex("0000041a") + struct.pack("<H", 3920) + b"\xf6") == {
        "rain": 1050.0, "batt": 3.92, "temp": -9.5}
    assert layout.decode(layout.encode({"rain": 7, "batt": 4.1, "temp": 20.5})) == {
        "rain": 7.0, "batt": 4.1, "temp": 20.5}
    with pytest.raises(PayloadError) as e:
        layout.decode(b"\x00\x01")
    assert e.value.reason == "layout_short"
    for bad in ([], [{"channel": "x", "offset": -1}], [{"channel": "x", "offset": 0,
                                                        "type": "u64"}],
                [{"channel": "x", "offset": 0, "scale": float("inf")}],
                [{"channel": "x", "offset": 0, "colour": 1}]):
        with pytest.raises(PayloadError):
            ByteLayout.from_toml(bad, "p.field")
