"""The site registry file the hub loads (``[registry] file``), read by the gateway as well.

One file describes where every node is and how it is calibrated, so a deployment does not
repeat that in each gateway's ``[analytics]`` and ``[nodes]`` tables (and let the copies
drift). From it the gateway takes:

- ``analytics.nodes.<node>.site`` and ``.soil`` (``soil_field_capacity`` / ``soil_saturation``)
- ``analytics.sites.<site>.rain_node``: the site's rain gauge, for slope nodes without one
- ``analytics.crowd.zones.<site>``: the site's people counters with ``zone_capacity`` and
  ``zone_area_m2``
- ``nodes.<node>.mm_per_tip`` for rain gauges

What the gateway's own file says wins over what the registry implies, key by key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from siaga.gateway.errors import ConfigError

KEY = "gateway.registry"
COUNTER_CHANNELS = frozenset({"pin", "pout"})


def read_registry(path: Path) -> Mapping[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(KEY, f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(KEY, f"{path} is not valid TOML: {exc}") from None
    nodes = data.get("nodes", {})
    if not isinstance(nodes, Mapping):
        raise ConfigError(KEY, f"{path}: [nodes] must be a table of nodes")
    for node_id, node in nodes.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("site"), str):
            raise ConfigError(KEY, f"{path}: nodes.{node_id}.site must be a site id")
        if not isinstance(node.get("calibration", {}), Mapping):
            raise ConfigError(KEY, f"{path}: nodes.{node_id}.calibration must be a table")
    return data


def implied_tables(registry: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[analytics]`` and ``[nodes]`` tables the registry implies."""
    analytics: dict[str, Any] = {"nodes": {}, "sites": {}}
    mm_per_tip: dict[str, Any] = {}
    zones: dict[str, dict[str, Any]] = {}
    for node_id, node in registry.get("nodes", {}).items():
        site = node["site"]
        cal = node.get("calibration", {})
        channels = set(node.get("channels", ()))
        entry: dict[str, Any] = {"site": site}
        if "soil_field_capacity" in cal and "soil_saturation" in cal:
            entry["soil"] = {"field_capacity": cal["soil_field_capacity"],
                             "saturation": cal["soil_saturation"]}
        analytics["nodes"][node_id] = entry
        analytics["sites"].setdefault(site, {})
        if "rain" in channels:
            analytics["sites"][site].setdefault("rain_node", node_id)
            if "mm_per_tip" in cal:
                mm_per_tip[node_id] = {"mm_per_tip": cal["mm_per_tip"]}
        if channels & COUNTER_CHANNELS and "zone_capacity" in cal and "zone_area_m2" in cal:
            zone = zones.setdefault(site, {"nodes": [], "capacity": cal["zone_capacity"],
                                           "area_m2": cal["zone_area_m2"], "site": site})
            zone["nodes"].append(node_id)
    if zones:
        analytics["crowd"] = {"zones": zones}
    return {"analytics": analytics, "nodes": mm_per_tip}


def merged(implied: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """``own`` over ``implied``, table by table (a key the file gives replaces the implied one)."""
    out = dict(implied)
    for key, value in own.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out
