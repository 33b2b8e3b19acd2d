"""The whole chain, every part real: the Kota Batu demo scenario end to end.

simulated nodes -> ptys (gateway gw-bumiaji-01) and a device Mosquitto (gw-batu-kota-01)
-> two ``siaga-gateway`` processes -> MQTT uplink through the hub's Mosquitto (per-gateway
logins and ACL) -> a ``siaga-hub`` process -> InfluxDB.

Checks that the scenario's incidents open with the right hazard, level and agencies, that
every simulated reading is in InfluxDB exactly once, and that an acknowledgement through the
API shows on a BPBD responder's live stream.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from siaga.api.broker_credentials import set_password_entry
from siaga.simulators import MqttNodeSet, PtyNodeSet
from siaga.simulators.demo_configs import gateway_config, hub_config, write_toml
from siaga.simulators.processes import Children, run_cli, wait_healthy
from siaga.simulators.scenario_catalog import build
from siaga.simulators.servers import InfluxDB, Mosquitto, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REGISTRY = ROOT / "deploy" / "demo" / "registry.toml"
# 5.5 simulated hours in about 41 s (it was 360x, 55 s). The gateways' landslide windows and
# rates scale with it (demo_configs.gateway_config) and the fault checks count readings, so the
# incidents come at the same simulated times; the last, the landslide's Awas, at ~4.85 h.
SPEED = 480.0
SIM_HOURS = 5.5
PASSWORD = "kata-sandi-e2e-123"


@pytest.fixture
def e2e_influx() -> Iterator[InfluxDB]:
    server = InfluxDB().start()
    yield server
    server.cleanup()


def influx_counts(url: str, database: str) -> Counter[tuple[str, str]]:
    q = "SELECT count(value) FROM reading GROUP BY node, channel"
    r = httpx.get(f"{url}/query", params={"db": database, "q": q}, timeout=10)
    out: Counter[tuple[str, str]] = Counter()
    for series in r.json()["results"][0].get("series", []):
        out[(series["tags"]["node"], series["tags"]["channel"])] = series["values"][0][1]
    return out


def expected_counts(nodes: tuple[str, ...], start: float, until: float) -> Counter[tuple[str, str]]:
    """What the node sets sent: every channel of every data frame up to ``until``."""
    out: Counter[tuple[str, str]] = Counter()
    for m in build("demo", 0, start_ts=start, only=nodes).messages(until):
        if m.type == "D":
            for channel in m.fields:
                out[(m.node, channel)] += 1
    return out


def follow(url: str, token: str, events: list[dict[str, Any]], stop: threading.Event) -> None:
    with httpx.stream("GET", f"{url}/api/v1/stream", headers={"Authorization": f"Bearer {token}"},
                      timeout=httpx.Timeout(5, read=60)) as r:
        for line in r.iter_lines():
            if stop.is_set():
                return
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))


def test_kota_batu_scenario_end_to_end(tmp_path: Path, e2e_influx: InfluxDB) -> None:
    registry = tomllib.loads(REGISTRY.read_text())
    by_gateway: dict[str, tuple[str, ...]] = {}
    for node_id, node in registry["nodes"].items():
        by_gateway[node["gateway"]] = (*by_gateway.get(node["gateway"], ()), node_id)
    serial_nodes, mqtt_nodes = by_gateway["gw-bumiaji-01"], by_gateway["gw-batu-kota-01"]

    (tmp_path / "logs").mkdir()
    (tmp_path / "hub-broker").mkdir()
    passwd = tmp_path / "hub-broker" / "passwd"
    passwd.touch()
    hub_password = "hub-" + os.urandom(6).hex()
    hub_broker = Mosquitto(workdir=tmp_path / "hub-broker", allow_anonymous=False, extra_config=(
        f"password_file {passwd}\nacl_file {ROOT / 'deploy' / 'mosquitto' / 'hub.acl'}\n"))
    device_broker = Mosquitto()
    port = free_port()
    hub_cfg = hub_config(tmp_path, port, REGISTRY, e2e_influx.url, (hub_broker.port, hub_password))
    hub_cfg["telemetry"]["database"] = "siaga_e2e"
    hub_toml = tmp_path / "hub.toml"
    write_toml(hub_toml, hub_cfg)
    hub_cli = [str(BIN / "siaga-hub"), "--config", str(hub_toml)]
    for user, agency, role in (("bpbd", "BPBD", "responder"), ("admin", "DISKOMINFO", "admin")):
        run_cli([*hub_cli, "user", "add", user, "--agency", agency,
                      "--role", role, "--password-stdin"], stdin=PASSWORD + "\n")
    tokens = {gw: run_cli([*hub_cli, "gateway", "add", gw, "--mosquitto-passwd",
                                str(passwd)]).strip()
              for gw in by_gateway}
    set_password_entry(passwd, "siaga-hub", hub_password)

    procs = Children(tmp_path / "logs")
    stop = threading.Event()
    serial: PtyNodeSet | None = None
    wireless: MqttNodeSet | None = None
    try:
        hub_broker.start()
        device_broker.start()
        procs.start("hub", [*hub_cli, "serve"])
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, procs)

        start = time.time() + 3
        until = start + SIM_HOURS * 3600
        serial = PtyNodeSet(build("demo", 0, start_ts=start, only=serial_nodes), speed=SPEED,
                            until_ts=until)
        serial.open()
        for gw, extra in (
            ("gw-bumiaji-01", {"serial": {"ports": [serial.paths[n] for n in serial_nodes]}}),
            ("gw-batu-kota-01", {"mqtt": {"host": "127.0.0.1", "port": device_broker.port}}),
        ):
            cfg = gateway_config(gw, tmp_path, REGISTRY, [], {
                "kind": "mqtt", "host": "127.0.0.1", "port": hub_broker.port,
                "username": gw, "password": tokens[gw]}, SPEED)
            del cfg["serial"]
            cfg.update(extra)
            write_toml(tmp_path / f"{gw}.toml", cfg)
            procs.start(gw, [str(BIN / "siaga-gateway"), "run", "--config",
                             str(tmp_path / f"{gw}.toml")])
        time.sleep(2)  # the MQTT gateway's session subscribes before the nodes publish
        assert procs.check() is None, procs.check()

        def login(user: str) -> str:
            r = httpx.post(f"{url}/api/v1/auth/token",
                           json={"username": user, "password": PASSWORD}, timeout=10)
            return str(r.json()["access_token"])

        bpbd, admin = login("bpbd"), login("admin")
        events: list[dict[str, Any]] = []
        threading.Thread(target=follow, args=(url, bpbd, events, stop), daemon=True).start()

        wireless = MqttNodeSet(build("demo", 0, start_ts=start, only=mqtt_nodes),
                               "127.0.0.1", device_broker.port, speed=SPEED, until_ts=until,
                               client_id="siaga-sim-e2e")
        serial.start()
        wireless.start()
        assert serial.finished.wait(SIM_HOURS * 3600 / SPEED + 60), "the pty nodes did not finish"
        assert wireless.finished.wait(60), "the MQTT nodes did not finish"
        assert procs.check() is None, procs.check()

        # every reading, exactly once: Influx keys a point by node, channel and time, so a
        # reading stored twice under another time would make a count too high
        expected = expected_counts(serial_nodes, start, until) + \
            expected_counts(mqtt_nodes, start, until)
        deadline = time.monotonic() + 90
        got = influx_counts(e2e_influx.url, "siaga_e2e")
        while got != expected and time.monotonic() < deadline:
            time.sleep(1)
            got = influx_counts(e2e_influx.url, "siaga_e2e")
        assert sum(expected.values()) > 5000
        assert got == expected

        headers = {"Authorization": f"Bearer {admin}"}
        incidents = httpx.get(f"{url}/api/v1/incidents", params={"limit": 200},
                              headers=headers, timeout=10).json()
        by_key = {(i["hazard"], i["site"]): i for i in incidents}
        landslide = by_key[("landslide", "bumiaji-slope")]
        assert landslide["max_level"] == 4 and landslide["agency"] == "BPBD"
        fire = by_key[("fire", "pasar-batu")]
        assert fire["max_level"] >= 3 and fire["agency"] == "PMK" and "BPBD" in fire["agencies"]
        crowd = by_key[("crowd", "alun-alun-batu")]
        assert crowd["max_level"] == 4 and set(crowd["agencies"]) == {"BPBD", "SATPOLPP"}
        faults = [i for i in incidents if i["hazard"] == "sensor_fault"]
        assert faults and all(i["agency"] == "DISKOMINFO" for i in faults)

        r = httpx.post(f"{url}/api/v1/incidents/{landslide['id']}/ack",
                       headers={"Authorization": f"Bearer {bpbd}"},
                       json={"note": "TRC BPBD menuju Bumiaji"}, timeout=10)
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                e["type"] == "incident.acknowledged" and e["incident"]["id"] == landslide["id"]
                for e in events):
            time.sleep(0.1)
        acks = [e for e in events if e["type"] == "incident.acknowledged"]
        assert [e["incident"]["id"] for e in acks] == [landslide["id"]]
        # the BPBD stream never carried another agency's incident
        assert all("BPBD" in e["incident"]["agencies"] for e in events if "incident" in e)
        assert {"landslide", "crowd"} <= {e["incident"]["hazard"] for e in events
                                          if "incident" in e}
    finally:
        stop.set()
        codes = procs.stop(grace_s=30)
        if serial is not None:
            serial.close()
        if wireless is not None:
            wireless.close(ack_timeout=1)
        hub_broker.cleanup()
        device_broker.cleanup()
    assert codes == {"hub": 0, "gw-bumiaji-01": 0, "gw-batu-kota-01": 0}, codes
