"""Scenario nodes as LoRaWAN devices behind a network server: its MQTT JSON on a broker.

``LorawanNodeSet`` plays a scenario's data messages as uplinks in ChirpStack v4 or The
Things Stack v3 JSON (``firmware_bridge.lorawan`` documents both shapes), with a
frame counter per device, plausible radio metadata and the payload in Cayenne LPP
(``LPP_CHANNELS``; or, with ``decoded``, also the network server's decoded object).
It stands in for the network server's downlink side too: a confirmed downlink queued
on its downlink topic is answered with the ack event a device's ack would cause.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import struct
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from siaga.firmware_bridge.lorawan import Flavour
from siaga.firmware_bridge.payload_codecs import encode_cayenne_lpp
from siaga.simulators.pacing import SimClock
from siaga.simulators.scenario import Scenario

log = logging.getLogger(__name__)

# Siaga channel -> (LPP channel, LPP type): what the simulated devices send and what a
# gateway profile's lpp_channels must name (docs/sources.md).
LPP_CHANNELS: dict[str, tuple[int, int]] = {
    "rain": (1, 100), "vwc": (2, 2), "temp": (3, 103), "hum": (4, 104), "batt": (5, 116),
    "tilt": (6, 2), "ext": (7, 2), "smoke": (8, 125),
}
APPLICATION = "siaga-sim"


def dev_eui(node: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_DNS, node).hex[:16]


def uplink_json(flavour: Flavour, node: str, f_cnt: int, values: dict[str, float],
                rng: random.Random, *, decoded: bool, now: float) -> tuple[str, bytes]:
    """(topic, payload) of one uplink as the network server publishes it."""
    payload = b""
    for ch, v in values.items():
        if ch in LPP_CHANNELS:
            try:
                payload += encode_cayenne_lpp([(*LPP_CHANNELS[ch], v)])
            except struct.error:
                continue  # out of what the LPP type can carry: a real device clips or skips
    data = base64.b64encode(payload).decode()
    rssi, snr = rng.randint(-118, -95), round(rng.uniform(-6.0, 9.5), 1)
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + "Z"
    eui = dev_eui(node)
    gateway = "a84041ffff2657ac"
    if flavour == "chirpstack":
        body: dict[str, object] = {
            "deduplicationId": str(uuid.UUID(int=rng.getrandbits(128))),
            "time": when,
            "deviceInfo": {
                "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", "tenantName": "BPBD",
                "applicationId": APPLICATION, "applicationName": "siaga",
                "deviceProfileId": "b1d6c168-7944-4982-b53e-a1e7162456bb",
                "deviceProfileName": "siaga-lpp", "deviceName": node, "devEui": eui,
                "deviceClassEnabled": "CLASS_A", "tags": {},
            },
            "devAddr": eui[-8:], "adr": True, "dr": 3, "fCnt": f_cnt, "fPort": 2,
            "confirmed": False, "data": data,
            "rxInfo": [{"gatewayId": gateway, "uplinkId": rng.randint(1, 65535),
                        "time": when, "rssi": rssi, "snr": snr, "channel": 2,
                        "crcStatus": "CRC_OK"}],
            "txInfo": {"frequency": 923200000, "modulation": {"lora": {
                "bandwidth": 125000, "spreadingFactor": 9, "codeRate": "CR_4_5"}}},
        }
        if decoded:
            body["object"] = values
        return f"application/{APPLICATION}/device/{eui}/event/up", json.dumps(body).encode()
    up: dict[str, object] = {
        "session_key_id": "AYxdn/mH/5t4ycMmHWkE/A==", "f_port": 2, "f_cnt": f_cnt,
        "frm_payload": data,
        "rx_metadata": [{"gateway_ids": {"gateway_id": f"eui-{gateway}",
                                         "eui": gateway.upper()},
                         "time": when, "rssi": rssi, "channel_rssi": rssi, "snr": snr}],
        "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 9}},
                     "frequency": "923200000"},
        "received_at": when,
    }
    if decoded:
        up["decoded_payload"] = values
    if not f_cnt:
        del up["f_cnt"]  # TTS leaves out empty fields
    body = {"end_device_ids": {"device_id": node,
                               "application_ids": {"application_id": APPLICATION},
                               "dev_eui": eui.upper(), "dev_addr": eui[-8:].upper()},
            "correlation_ids": [f"as:up:{rng.getrandbits(64):016X}"], "received_at": when,
            "uplink_message": up}
    return f"v3/{APPLICATION}/devices/{node}/up", json.dumps(body).encode()


def ack_event(flavour: Flavour, topic: str, payload: bytes) -> tuple[str, bytes] | None:
    """The network server's ack event for a confirmed downlink queued on ``topic``."""
    parts = topic.split("/")
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if flavour == "chirpstack" and len(parts) == 6 and parts[4:] == ["command", "down"]:
        return (f"application/{parts[1]}/device/{parts[3]}/event/ack",
                json.dumps({"deviceInfo": {"devEui": parts[3]}, "acknowledged": True,
                            "fCntDown": 1}).encode())
    if flavour == "tts" and len(parts) == 6 and parts[4:] == ["down", "push"]:
        downs = body.get("downlinks") or [{}]
        ids = downs[0].get("correlation_ids", [])
        return (f"v3/{parts[1]}/devices/{parts[3]}/down/ack",
                json.dumps({"end_device_ids": {"device_id": parts[3]},
                            "correlation_ids": ids,
                            "downlink_ack": {"f_port": downs[0].get("f_port"),
                                             "confirmed": True,
                                             "correlation_ids": ids}}).encode())
    return None


class LorawanNodeSet:
    """Plays ``scenario`` (the nodes in ``only``, or all) as LoRaWAN uplinks on a broker."""

    def __init__(self, scenario: Scenario, host: str, port: int, flavour: Flavour, *,
                 speed: float = 1.0, decoded: bool = False, seed: int = 0,
                 only: tuple[str, ...] | None = None) -> None:
        self.scenario = scenario
        self.flavour = flavour
        self.speed = speed
        self.decoded = decoded
        self.only = set(only) if only else None
        self.published = 0
        self.downlinks = 0
        self._rng = random.Random(f"{seed}:lorawan")
        self._f_cnt: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-lorawan", daemon=True)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"siaga-sim-ns-{flavour}")
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.connect(host, port)
        self.client = client

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    reason: object, props: object) -> None:
        client.subscribe("application/+/device/+/command/down" if self.flavour == "chirpstack"
                         else "v3/+/devices/+/down/push", 1)

    def _on_message(self, client: mqtt.Client, userdata: object,
                    msg: mqtt.MQTTMessage) -> None:
        event = ack_event(self.flavour, msg.topic, bytes(msg.payload))
        if event is not None:
            self.downlinks += 1
            client.publish(*event, qos=1)

    def start(self) -> None:
        self.client.loop_start()
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()

    def _run(self) -> None:
        clock = SimClock(self.scenario.start_ts, self.speed)
        for message in self.scenario.messages():
            if message.type != "D" or (self.only and message.node not in self.only):
                continue
            wait = clock.deadline(message.ts) - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            if self._stop.is_set():
                return
            values = {k: float(v) for k, v in message.fields.items()
                      if k != "up" and isinstance(v, int | float)}
            f_cnt = self._f_cnt.get(message.node, 0)
            self._f_cnt[message.node] = f_cnt + 1
            topic, body = uplink_json(self.flavour, message.node, f_cnt, values, self._rng,
                                      decoded=self.decoded, now=time.time())
            self.client.publish(topic, body, qos=1)
            self.published += 1
