"""A real ``siaga-gateway run`` process between two real Mosquitto brokers.

Nodes publish ``siaga/node/<id>/up`` on the device broker (QoS 1); the gateway
commits, forwards over the MQTT uplink to the uplink broker, where
``MqttAckResponder`` stands in for the hub. Used by the resilience tests and by
tests/benchmarks/bench_buffer.py (the loss report).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from siaga.simulators.servers import Mosquitto
from tests.integration.gateway.hub_stand_in import ReadingKey, StoredEntries

REPO = Path(__file__).resolve().parents[3]


def gateway_config(
    state_dir: Path, gateway_id: str, devices: Mosquitto, uplink: Mosquitto, extra: str = "",
    log_level: str = "warning",
) -> Path:
    path = state_dir / "gateway.toml"
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[gateway]\nid = "{gateway_id}"\nstate_dir = "{state_dir}"\nlog_level = "{log_level}"\n'
        f'status_write_s = 1.0\n'
        f'[mqtt]\nhost = "{devices.host}"\nport = {devices.port}\n'
        f'[buffer]\npath = "buffer.sqlite3"\n'
        f'[uplink]\nkind = "mqtt"\nhost = "{uplink.host}"\nport = {uplink.port}\n'
        "batch_max_count = 500\nbatch_max_age_s = 0.2\nack_timeout_s = 3.0\n"
        "backoff_min_s = 1.0\nbackoff_max_s = 2.0\n"
        f"{extra}"
    )
    return path


@dataclass
class GatewayProcess:
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "siaga.gateway", "run", "--config", str(self.config)],
                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True,  # a process group of its own, for signal_group
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or the OOM killer."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def signal_group(self, signum: int) -> int:
        """``signum`` to the gateway's whole process group (its sender too), as Ctrl-C in a
        terminal or systemd's ``KillMode=control-group`` sends it; the exit code."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signum)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        """The pids of the gateway's child processes (its uplink sender), from /proc."""
        assert self.proc is not None
        return [pid for pid in _pids() if _stat(pid)[1] == self.proc.pid]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _stat(pid: int) -> tuple[str, int]:
    """(state, parent pid) of a process; ("gone", 0) when it no longer exists."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return "gone", 0
    return fields[0], int(fields[1])


def process_gone(pid: int) -> bool:
    """Exited (a zombie no one reaped yet counts as gone: it runs no code)."""
    return _stat(pid)[0] in ("gone", "Z")


@dataclass
class NodeFleet:
    """Virtual WiFi nodes publishing ``up`` messages at QoS 1; remembers every identity."""

    broker: Mosquitto
    gateway_id: str
    nodes: tuple[str, ...] = ("slope-01", "slope-02", "slope-03")
    sent: set[ReadingKey] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet",
                                   clean_session=False)
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(1000)
        self._client.connect(self.broker.host, self.broker.port)
        self._client.loop_start()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, seq: int) -> None:
        ts = int(time.time() * 1000)
        for node in self.nodes:
            body = {"seq": seq, "v": {"vwc": 30 + seq % 5}, "ts": ts}
            self._client.publish(f"siaga/node/{node}/up", json.dumps(body), qos=1)
            self.sent.add((self.gateway_id, node, "vwc", ts, seq))

    def wait_forwarded(self, stored: StoredEntries, timeout: float = 60) -> None:
        """Publish from a ``warm-up`` node (not counted in ``sent``) until one reaches the
        hub stand-in: the gateway's persistent session on the device broker now exists,
        so what the fleet publishes from here on waits for the gateway across restarts."""
        deadline = time.monotonic() + timeout
        seq = 0
        while time.monotonic() < deadline:
            body = {"seq": seq, "v": {"vwc": 1}, "ts": int(time.time() * 1000)}
            self._client.publish("siaga/node/warm-up/up", json.dumps(body), qos=1)
            seq += 1
            if stored.wait_until(
                lambda: any(k[1] == "warm-up" for k in stored.reading_deliveries), 0.5
            ):
                return
        raise TimeoutError("no warm-up reading reached the hub stand-in: is the gateway up?")

    def run(self, count: int, rate_hz: float) -> threading.Thread:
        """Publish ``count`` rounds (one message per node each) in a thread."""
        def loop() -> None:
            for seq in range(count):
                self.publish(seq)
                if self._stop.wait(1 / rate_hz):
                    return

        self._thread = threading.Thread(target=loop, name="fleet")
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._client.disconnect()
        self._client.loop_stop()
