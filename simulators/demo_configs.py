"""The hub and gateway configs of the Kota Batu demo, shared by the demo and the end-to-end test.

Pure: each function builds a config table (or writes one as TOML); the caller says where the
state lives and which registry file to load. Dev tooling: product code never imports it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def hub_config(state: Path, port: int, registry: Path, influx_url: str | None,
               mqtt: tuple[int, str] | None, smtp_port: int | None = None) -> dict[str, Any]:
    """``siaga-hub`` on 127.0.0.1:``port`` with its databases in ``state``.

    Telemetry goes to InfluxDB at ``influx_url``, else SQLite; ``mqtt`` is (broker port, the
    hub's broker password) for the MQTT uplink; ``smtp_port`` is a local SMTP inbox that every
    notification goes to (email to each agency's staff, from Waspada up).
    """
    cfg: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port, "shutdown_timeout_s": 2},
        "database": {"path": str(state / "hub.sqlite3")},
        "registry": {"file": str(registry)},
        # Offline by default: the map draws the registry's coordinates on a plain base.
        "dashboard": {"timezone": "Asia/Jakarta", "tile_url": ""},
        "auth": {"see_all_agencies": ["DISKOMINFO"]},
        "incidents": {"gateway_silence_s": 120},
    }
    if influx_url:
        cfg["telemetry"] = {"kind": "influxdb", "url": influx_url, "database": "siaga"}
    else:
        cfg["telemetry"] = {"kind": "sqlite", "path": str(state / "telemetry.sqlite3")}
    if mqtt:
        mqtt_port, hub_password = mqtt
        cfg["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": mqtt_port,
                       "username": "siaga-hub", "password": hub_password}
    if smtp_port:
        cfg["notify"] = {
            "enabled": True, "base_url": f"http://127.0.0.1:{port}",
            "email": {"host": "127.0.0.1", "port": smtp_port, "security": "none",
                      "sender": "Siaga Demo <siaga@demo.siaga.local>"},
            "rules": [{"min_level": 2, "channels": ["email"], "to": ["agency"]}],
        }
    return cfg


def gateway_config(gw: str, state: Path, registry: Path, ports: list[str],
                   uplink: dict[str, Any], speed: float) -> dict[str, Any]:
    """Gateway ``gw`` reading ``ports``, state in ``state/gw``, judging a ``speed``-x scenario."""
    # The scenario runs `speed` times faster than the gateway's clock, so a slope that creeps
    # 1 mm/h in the story moves `speed` mm per wall-clock hour. The movement rungs of the
    # landslide detector are rates over a window: scale both so the demo slope is judged as
    # the real one would be (the rain and soil rules need no scaling to reach their levels).
    landslide = {
        "rate_window_s": 3600 / speed, "clear_after_s": 1800 / speed,
        "ext_rate_mm_h": {"waspada": 1.0 * speed, "siaga": 2.0 * speed, "awas": 4.0 * speed},
        "tilt_rate_deg_h": {"waspada": 0.1 * speed, "siaga": 0.5 * speed, "awas": 1.0 * speed},
    }
    return {
        "gateway": {"id": gw, "state_dir": str(state / gw), "registry": str(registry)},
        "serial": {"ports": ports},
        "uplink": {"batch_max_age_s": 0.5, "ack_timeout_s": 10, "backoff_max_s": 5, **uplink},
        "heartbeat": {"interval_s": 10},
        "analytics.landslide": landslide,
    }


def write_toml(path: Path, data: dict[str, Any]) -> None:
    """``data`` as TOML: one table per top-level key, inline tables below that."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(str(v))  # a TOML basic string is JSON's string syntax

    lines = []
    for table, keys in data.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {value(v)}" for k, v in keys.items()]
        lines.append("")
    path.write_text("\n".join(lines))
