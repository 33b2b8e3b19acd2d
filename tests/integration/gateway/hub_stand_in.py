"""Contract-conforming stand-ins for the hub's ingest, for the gateway uplink tests.

They implement the hub side of docs/uplink.md and nothing more: store each entry by
its stable identity (idempotently, like the hub's telemetry store), then
acknowledge. They stand in for the hub until the hub's own tests exercise the same
contract; they are not mocks of the gateway's parts (the broker is a real Mosquitto).
The uplink against the real hub ingest: tests/integration/uplink/test_uplink_hub_contract.py.
The stand-ins stay for what that cannot do cheaply: count every delivery by identity,
stall or reject acks on demand, fail HTTP requests on demand.

- ``MqttAckResponder`` subscribes to ``siaga/gw/+/data`` and answers on
  ``siaga/gw/<id>/ack`` with an ``Ack`` (firmware_bridge/uplink.py).
- ``HttpIngestServer`` is a stdlib ``http.server`` answering ``POST /api/v1/ingest``.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from siaga.firmware_bridge.uplink import Ack
from siaga.firmware_bridge.uplink_codec import encode

ReadingKey = tuple[str, str, str, int, int]  # gateway, node, channel, ts, seq
AlertKey = tuple[str, str, str, int, int]  # gateway, node, detector, ts, level


class StoredEntries:
    """What reached the stand-in: deliveries counted by identity, batches in order."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.reading_deliveries: Counter[ReadingKey] = Counter()
        self.alert_deliveries: Counter[AlertKey] = Counter()
        self.batches: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # monotonic, one per batch
        self.heartbeats: list[dict[str, Any]] = []

    def store(self, batch: dict[str, Any]) -> None:
        gw = batch["gateway"]
        with self.cond:
            self.batches.append(batch)
            self.arrivals.append(time.monotonic())
            for r in batch["readings"]:
                self.reading_deliveries[(gw, r["node"], r["channel"], r["ts"], r["seq"])] += 1
            for a in batch["alerts"]:
                self.alert_deliveries[(gw, a["node"], a["detector"], a["ts"], a["level"])] += 1
            self.cond.notify_all()

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    @property
    def unique_readings(self) -> int:
        return len(self.reading_deliveries)

    @property
    def redelivered_readings(self) -> int:
        """Deliveries beyond the first (at-least-once); the store keeps one of each."""
        return sum(self.reading_deliveries.values()) - len(self.reading_deliveries)


class MqttAckResponder(StoredEntries):
    def __init__(self, host: str, port: int, client_id: str = "hub-stand-in") -> None:
        super().__init__()
        self.acking = True  # False: receive and store, but send no ack (a hub that stalls)
        self.stored_acks_sent = 0  # "stored" acks published (counted under ``cond``)
        self.reject = False  # True: answer "rejected"
        self.max_acked_entries: int | None = None  # larger batches get no ack (a slow link)
        self.statuses: list[tuple[str, dict[str, Any]]] = []
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   clean_session=False)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)
        self._client.max_queued_messages_set(0)
        self._client.connect_async(host, port, keepalive=10)
        self.connected = threading.Event()

    def start(self) -> MqttAckResponder:
        self._client.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("ack responder could not connect to the broker")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def stop_acking(self) -> int:
        """Send no more "stored" acks: the number sent, every one of them already published
        or on its way (setting ``acking`` alone races a batch being answered, whose ack then
        reaches the gateway after the caller thought the acks had stopped)."""
        with self.cond:
            self.acking = False
            return self.stored_acks_sent

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe([("siaga/gw/+/data", 1), ("siaga/gw/+/heartbeat", 1),
                          ("siaga/gw/+/status", 1)])
        self.connected.set()

    def _on_message(self, client: mqtt.Client, _ud: object, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        leaf = msg.topic.rsplit("/", 1)[1]
        if leaf == "heartbeat":
            with self.cond:
                self.heartbeats.append(body)
                self.cond.notify_all()
            return
        if leaf == "status":
            with self.cond:
                self.statuses.append((msg.topic, body))
                self.cond.notify_all()
            return
        if self.reject:
            ack = Ack(body["batch"], "rejected", reason="test says no")
        else:
            self.store(body)
            entries = len(body["readings"]) + len(body["alerts"])
            with self.cond:  # stop_acking's lock: no ack goes out uncounted after it
                if not self.acking or entries > (self.max_acked_entries or entries):
                    return
                self.stored_acks_sent += 1
            ack = Ack(body["batch"], "stored")
        client.publish(f"siaga/gw/{body['gateway']}/ack", encode(ack), qos=1)


class HttpIngestServer(StoredEntries):
    """``POST /api/v1/ingest`` and ``/api/v1/heartbeat`` with a bearer token.

    ``fail_next`` answers that many requests with ``fail_status`` before storing again.
    """

    def __init__(self, token: str = "gw-secret") -> None:
        super().__init__()
        self.token = token
        self.fail_next = 0
        self.fail_status = 503
        self.max_entries: int | None = None  # larger batches get 413
        self.requests: list[tuple[str, int, str | None]] = []  # path, status, encoding
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                status, answer = stand_in.handle(self.path, self.headers, self.rfile.read(
                    int(self.headers.get("Content-Length", 0))))
                stand_in.requests.append((self.path, status,
                                          self.headers.get("Content-Encoding")))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HttpIngestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() of a never-started server blocks forever
            self._server.shutdown()
        self._server.server_close()

    def handle(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, Any]]:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"title": "token missing or wrong"}
        if self.fail_next > 0:
            self.fail_next -= 1
            return self.fail_status, {"title": "stand-in failure"}
        if headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        body = json.loads(raw)
        if path == "/api/v1/heartbeat":
            with self.cond:
                self.heartbeats.append(body)
            return 200, {"ok": True}
        if path != "/api/v1/ingest":
            return 404, {"title": "no such endpoint"}
        n = len(body["readings"]) + len(body["alerts"])
        if self.max_entries is not None and n > self.max_entries:
            return 413, {"title": "batch too large"}
        before = self.unique_readings
        self.store(body)
        stored = self.unique_readings - before
        return 200, {"batch": body["batch"], "stored": stored, "duplicates": n - stored}


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """For conditions no thread signals (a buffer emptied by another process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
