"""The server fixtures themselves: a real broker round trip and a real influxd write/query."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request

import paho.mqtt.client as mqtt

from siaga.simulators.servers import InfluxDB, Mosquitto


def test_mosquitto_round_trip(mosquitto: Mosquitto) -> None:
    got = threading.Event()
    payloads: list[bytes] = []

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        payloads.append(msg.payload)
        got.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fixture-sub")
    sub.on_message = on_message
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe("fixture/t", qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fixture-pub")
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    try:
        for _ in range(50):
            pub.publish("fixture/t", b"hello", qos=1).wait_for_publish(5)
            if got.wait(0.1):
                break
        assert payloads and payloads[0] == b"hello"
    finally:
        pub.loop_stop()
        sub.loop_stop()


def test_influxd_write_and_query(influxdb: InfluxDB) -> None:
    def post(path: str, body: bytes | None = None, **params: str) -> bytes:
        url = f"{influxdb.url}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")) as r:
            return r.read()

    post("/query", q="CREATE DATABASE fixture")
    post("/write", b"m,node=a v=1.5 1700000000000000000", db="fixture")
    out = json.loads(post("/query", db="fixture", q="SELECT v FROM m"))
    assert out["results"][0]["series"][0]["values"] == [["2023-11-14T22:13:20Z", 1.5]]
