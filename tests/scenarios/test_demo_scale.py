"""``deploy/demo.py --scale`` starts as docs/scale.md deploys the hub (PostgreSQL, two hub
processes, Debian's nginx over TLS) and an incident of the story is seen through the proxy:
on the live stream the demo prints, and in the incident list a login gets over HTTPS.
~40 s on an idle machine: the start (PostgreSQL, CLI calls, two hubs, nginx) and ~10 s of
the story at 240x to its first incident.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from siaga.simulators.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_scale_shows_an_incident_through_the_proxy() -> None:
    # PostgreSQL runs as the postgres user when we are root: it must reach its data dir.
    state = Path(tempfile.mkdtemp(prefix="siaga-demo-scale-"))
    state.chmod(0o755)
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy" / "demo.py"), "--scale", "--fresh", "--speed", "240",
         "--port", str(port), "--state-dir", str(state / "demo"), "--duration", "150"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    lines: list[str] = []
    opened = threading.Event()

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if " OPENED " in line:
                opened.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not opened.wait(0.5) and demo.poll() is None and time.monotonic() < deadline:
            pass
        assert opened.is_set(), "no incident on the demo's stream:\n" + "".join(lines[-30:])
        text = "".join(lines)
        assert f"nginx          https://127.0.0.1:{port}" in text
        assert "PostgreSQL" in text
        cert = state / "demo" / "tls" / "proxy.crt"
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", timeout=10,
                          verify=ssl.create_default_context(cafile=str(cert))) as client:
            token = client.post("/api/v1/auth/token", json={
                "username": "admin", "password": "siaga-admin-demo"}).json()["access_token"]
            incidents = client.get("/api/v1/incidents",
                                   headers={"Authorization": f"Bearer {token}"})
        assert incidents.status_code == 200, incidents.text
        assert incidents.json(), incidents.text
        logs = state / "demo" / "logs"
        hub_logs = sorted(logs.glob("hub-*.log"))
        assert len(hub_logs) == 2
        # Both hub processes served the gateways' batches through the proxy.
        for log in hub_logs:
            assert "POST /api/v1/ingest" in log.read_text(errors="replace"), log
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(60) == 0, "".join(lines[-30:])
        reader.join(10)
        assert "incident events seen: " in "".join(lines)
    finally:
        if demo.poll() is None:
            os.kill(demo.pid, signal.SIGTERM)
            try:
                demo.wait(30)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
        if demo.stdout is not None:
            demo.stdout.close()
        shutil.rmtree(state, ignore_errors=True)
