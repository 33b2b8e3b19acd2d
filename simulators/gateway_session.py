"""The gateway's persistent session on a device broker, made before the gateway runs.

A broker keeps QoS 1 messages only for sessions that already subscribe: whatever nodes
publish before a fresh gateway's SUBSCRIBE is delivered to nobody and counted nowhere.
A benchmark or test that starts ``siaga-gateway run`` and then publishes after a fixed
wait loses the head of its stream whenever the gateway starts slower than that (a
6-minute soak at load 13.7 lost 8,462 readings this way: the gateway had not finished
importing after 3 s). With the session opened here first, the broker holds everything
for the gateway however long it takes to start, as it does for a gateway restarting in
the field (gateway/sources/mqtt_source.py).
"""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from siaga.firmware_bridge.device_message import DEVICE_SUBSCRIPTIONS

SUBACK_TIMEOUT_S = 10.0


def open_gateway_session(host: str, port: int, client_id: str,
                         timeout_s: float = SUBACK_TIMEOUT_S) -> None:
    """Subscribe ``client_id`` to the gateway's device topics at QoS 1 in a persistent
    session (MQTT 3.1.1, clean_session false: the gateway's default) and return once the
    broker has answered the SUBSCRIBE; TimeoutError when it does not in ``timeout_s``."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=False, protocol=mqtt.MQTTv311)
    subscribed = threading.Event()

    def on_subscribe(*_: Any) -> None:
        subscribed.set()

    client.on_subscribe = on_subscribe
    client.connect(host, port)
    client.loop_start()
    try:
        client.subscribe([(topic, 1) for topic in DEVICE_SUBSCRIPTIONS])
        if not subscribed.wait(timeout_s):
            raise TimeoutError(f"{host}:{port} did not answer the SUBSCRIBE of {client_id} "
                               f"within {timeout_s} s")
    finally:
        client.disconnect()
        client.loop_stop()
