"""What the gateway takes from the hub's site registry file (``[registry] file``).

The file's schema is declared once, in analytics.registry_file, for hub and gateway.

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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from siaga.analytics.detectors.crowd import CrowdDetector
from siaga.analytics.errors import ConfigError as AnalyticsConfigError
from siaga.analytics.registry_file import RegistryFile
from siaga.analytics.registry_file import read_registry_file as read_file
from siaga.gateway.errors import ConfigError

KEY = "gateway.registry"


def read_registry(path: Path) -> RegistryFile:
    try:
        return read_file(path, KEY)
    except AnalyticsConfigError as exc:
        raise ConfigError(exc.key, exc.problem) from None


def implied_tables(registry: RegistryFile) -> dict[str, Any]:
    """The ``[analytics]`` and ``[nodes]`` tables the registry implies."""
    analytics: dict[str, Any] = {"nodes": {}, "sites": {}}
    mm_per_tip: dict[str, Any] = {}
    zones: dict[str, dict[str, Any]] = {}
    for node_id, node in registry.nodes.items():
        site = node.site
        cal = node.calibration
        channels = set(node.channels)
        entry: dict[str, Any] = {"site": site}
        if cal.soil_field_capacity is not None and cal.soil_saturation is not None:
            entry["soil"] = {"field_capacity": cal.soil_field_capacity,
                             "saturation": cal.soil_saturation}
        analytics["nodes"][node_id] = entry
        analytics["sites"].setdefault(site, {})
        if "rain" in channels:
            analytics["sites"][site].setdefault("rain_node", node_id)
            if cal.mm_per_tip is not None:
                mm_per_tip[node_id] = {"mm_per_tip": cal.mm_per_tip}
        if channels & CrowdDetector.channels and cal.zone_capacity is not None \
                and cal.zone_area_m2 is not None:
            zone = zones.setdefault(site, {"nodes": [], "capacity": cal.zone_capacity,
                                           "area_m2": cal.zone_area_m2, "site": site})
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
