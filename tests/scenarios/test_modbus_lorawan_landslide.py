"""A Modbus soil probe and a LoRaWAN rain gauge on one slope drive a landslide incident.

Every part real: the storm scenario's slope-05 is an RS-485 soil probe served by
pymodbus's own server on a pty (``ModbusSlaveLine``, shipped ``soil-probe`` map), its
rain-bumiaji-01 a LoRaWAN rain gauge whose uplinks a stand-in network server publishes
as ChirpStack v4 JSON with Cayenne LPP payloads on a real Mosquitto; one
``siaga-gateway`` process polls the probe and subscribes to the network server, and
forwards over the HTTP uplink to a ``siaga-hub`` process (SQLite telemetry), which
opens the incident.

The storm scenario's dry lead is cut from five simulated hours to half an hour (3 s at
600x instead of 30 s: the gateway's detectors judge rates over wall-clock windows, so a
longer dry spell tells them nothing more); the storm then plays at 600x, about 7 s from the
first rain to a saturated slope.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import httpx

from siaga.firmware_bridge.modbus_map import shipped_map
from siaga.simulators.demo_configs import hub_config, write_toml
from siaga.simulators.lorawan_nodes import LorawanNodeSet
from siaga.simulators.modbus_slaves import ModbusSlaveLine, SlaveDevice
from siaga.simulators.processes import Children, run_cli, wait_healthy
from siaga.simulators.scenario_catalog import build
from siaga.simulators.sensor_feed import ScenarioFeed
from siaga.simulators.servers import Mosquitto, free_port

BIN = Path(sys.executable).parent
SPEED = 600.0
LEAD_S = 0.5 * 3600.0
PASSWORD = "kata-sandi-sources-123"
REGISTRY = """
[sites.bumiaji-slope]
name = "Lereng Bumiaji"
lat = -7.8527
lon = 112.5436
kind = "slope"

[gateways.gw-lereng]
name = "Gateway Bumiaji (RS-485 + LoRaWAN)"
site = "bumiaji-slope"

[nodes.slope-05]
site = "bumiaji-slope"
gateway = "gw-lereng"
channels = ["vwc", "temp", "ec"]
calibration = { soil_field_capacity = 32.0, soil_saturation = 45.0 }

[nodes.rain-bumiaji-01]
site = "bumiaji-slope"
gateway = "gw-lereng"
channels = ["rain", "temp", "hum", "batt"]
calibration = { mm_per_tip = 0.5 }
"""


def gateway_toml(path: Path, state: Path, registry: Path, pty: str, broker: Mosquitto,
                 hub_url: str, token: str) -> None:
    path.write_text(f"""
[gateway]
id = "gw-lereng"
state_dir = "{state}"
registry = "{registry}"

[uplink]
kind = "http"
url = "{hub_url}"
token = "{token}"
batch_max_age_s = 0.5

[[modbus.bus]]
name = "lereng"
port = "{pty}"
baud = 9600
timeout_s = 0.3
[[modbus.bus.device]]
node = "slope-05"
unit = 1
map = "soil-probe"
poll_s = 1

[lorawan]
flavour = "chirpstack"
host = "{broker.host}"
port = {broker.port}
default_profile = "siaga-lpp"
[lorawan.profiles.siaga-lpp]
codec = "cayenne_lpp"
lpp_channels = {{ "1" = "rain", "3" = "temp", "4" = "hum", "5" = "batt" }}
""")


def test_modbus_soil_and_lorawan_rain_open_a_landslide_incident(tmp_path: Path) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text(REGISTRY)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    hub_toml = tmp_path / "hub.toml"
    write_toml(hub_toml, hub_config(tmp_path, port, registry, None, None))
    hub_cli = [str(BIN / "siaga-hub"), "--config", str(hub_toml)]
    run_cli([*hub_cli, "user", "add", "bpbd", "--agency", "BPBD", "--role", "responder",
             "--password-stdin"], stdin=PASSWORD + "\n")
    token = run_cli([*hub_cli, "gateway", "add", "gw-lereng"]).strip()

    start = time.time() - LEAD_S
    only = ("slope-05", "rain-bumiaji-01")
    broker = Mosquitto().start()
    line = ModbusSlaveLine([SlaveDevice("slope-05", 1, shipped_map("soil-probe"))])
    procs = Children(tmp_path)
    stop = threading.Event()
    radio: LorawanNodeSet | None = None
    feed: ScenarioFeed | None = None
    try:
        line.start()
        # The probe measures from the start: its registers hold the scenario's present
        # before the gateway's first poll (a jump from nothing would be a sensor fault).
        feed = ScenarioFeed(build("storm", 0, start_ts=start, only=only, lead_s=LEAD_S), line,
                            SPEED, stop)
        feed.start()
        procs.start("hub", [*hub_cli, "serve"])
        wait_healthy(url, procs)
        gw_toml = tmp_path / "gateway.toml"
        gateway_toml(gw_toml, tmp_path / "gw", registry, line.path, broker, url, token)
        procs.start("gateway", [str(BIN / "siaga-gateway"), "run", "--config", str(gw_toml)])
        time.sleep(2)  # the gateway's broker session subscribes before the gauge sends
        assert procs.check() is None, procs.check()
        radio = LorawanNodeSet(build("storm", 0, start_ts=start, only=only, lead_s=LEAD_S),
                               broker.host, broker.port, "chirpstack", speed=SPEED,
                               only=("rain-bumiaji-01",))
        radio.start()

        token_bpbd = httpx.post(f"{url}/api/v1/auth/token", json={
            "username": "bpbd", "password": PASSWORD}, timeout=10).json()["access_token"]
        headers = {"Authorization": f"Bearer {token_bpbd}"}
        landslide = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            incidents = httpx.get(f"{url}/api/v1/incidents", headers=headers,
                                  timeout=10).json()
            landslide = next((i for i in incidents if i["hazard"] == "landslide"
                              and i["max_level"] >= 3), None)
            if landslide is not None:
                break
            assert procs.check() is None, procs.check()
            time.sleep(1)
        assert landslide is not None, f"no landslide incident at Siaga: {incidents}"
        assert landslide["site"] == "bumiaji-slope" and landslide["agency"] == "BPBD"
        latest = httpx.get(f"{url}/api/v1/nodes/slope-05/latest", headers=headers,
                           timeout=10)
        assert latest.status_code == 200, latest.text
        assert {c["channel"] for c in latest.json()["channels"]} >= {"vwc", "temp", "ec"}
        gauge = httpx.get(f"{url}/api/v1/nodes/rain-bumiaji-01/latest", headers=headers,
                          timeout=10).json()
        assert {c["channel"] for c in gauge["channels"]} >= {"rain", "rssi"}
    finally:
        stop.set()
        if radio is not None:
            radio.close()
        if feed is not None:
            feed.join(5)
        codes = procs.stop(grace_s=20)
        line.close()
        broker.cleanup()
    assert all(code == 0 for code in codes.values()), codes
