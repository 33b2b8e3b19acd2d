"""A gateway whose output stalls holds input instead of dropping it.

``siaga-gateway run --stdout`` with nobody reading its stdout: the pipe fills, the
core blocks on it, the core's queue fills, the MQTT source blocks in paho's thread
and stops reading the socket, the broker holds the rest. Reading stdout again must
then yield every reading, once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from siaga.simulators.servers import Mosquitto

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
MESSAGES = 3000


def test_stalled_output_holds_input_and_loses_nothing(
    tmp_path: Path, fresh_mosquitto: Mosquitto
) -> None:
    broker = fresh_mosquitto
    proc = subprocess.Popen(
        [sys.executable, "-m", "siaga.gateway", "run", "--mqtt", broker.address, "--stdout",
         "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "SIAGA_GATEWAY__QUEUE_SIZE": "2", "SIAGA_GATEWAY__MAX_BATCH": "50",
             "SIAGA_MQTT__RECEIVE_MAXIMUM": "65535", "SIAGA_ANALYTICS__DETECTORS": "[]"},
    )
    log: list[str] = []
    connected = threading.Event()

    def read_log() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            log.append(raw.decode())
            if "subscribed" in log[-1]:
                connected.set()

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    try:
        assert connected.wait(20), "".join(log)
        time.sleep(0.3)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bp-pub")
        pub.max_queued_messages_set(0)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        info = None
        for i in range(MESSAGES):
            body = f'{{"seq":{i % 65536},"v":{{"vwc":{i % 100}.5,"x_{i % 7}":{i}}}}}'
            info = pub.publish("siaga/node/bp-01/up", body.encode(), qos=1)
        assert info is not None
        info.wait_for_publish(60)
        pub.loop_stop()
        deadline = time.monotonic() + 30
        while not any("core queue full" in line for line in log):
            assert time.monotonic() < deadline, "the core's queue never filled"
            time.sleep(0.1)
        assert proc.stdout is not None
        seqs = []
        for _ in range(MESSAGES * 2):  # two channels per message
            line = proc.stdout.readline()
            assert line, "gateway closed stdout"
            if b'"channel":"vwc"' in line:
                seqs.append(int(line.split(b'"seq":')[1].split(b",")[0]))
    finally:
        proc.terminate()
        proc.wait(30)
        reader.join(10)  # stderr ends with the process
        with proc:  # closes its pipes
            pass
    assert seqs == list(range(MESSAGES))
    assert proc.returncode == 0
