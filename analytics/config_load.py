"""Build an AnalyticsConfig from the gateway's ``[analytics]`` table (a plain dict).

The keys, types, bounds and defaults are the declarations in analytics.config; this module
only lays the table over the defaults and validates it (analytics.settings_file). Every error
names the full key path, e.g. ``analytics.rain.thresholds.siaga_3h_mm: Input should be a valid
number``. Unknown keys are errors too, so a typo never silently falls back to a default.

A partial table keeps the defaults of the keys it does not give (``[analytics.fire.smoke_ppm]
waspada = 50`` keeps Siaga at 150 ppm); a node's ``thresholds.<channel>`` and ``battery_v`` start
from the channel's ``threshold.channels`` entry and ``health.battery_v``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter

from siaga.analytics.config import AnalyticsConfig
from siaga.analytics.settings_file import settings_adapter, validated

ROOT = "analytics"
_ADAPTER: TypeAdapter[AnalyticsConfig] = settings_adapter(AnalyticsConfig)
_DEFAULTS: dict[str, Any] = dataclasses.asdict(AnalyticsConfig())


def load_config(data: Mapping[str, Any] | None) -> AnalyticsConfig:
    """The ``[analytics]`` table -> AnalyticsConfig; raises ConfigError naming the key."""
    table = over_defaults(_DEFAULTS, data or {})
    if isinstance(table, dict):
        inherit_node_defaults(table)
    return validated(_ADAPTER, table, ROOT, strict=True)


def over_defaults(default: Any, given: Any) -> Any:
    """``given`` laid over ``default``, table by table (anything else replaces)."""
    if not isinstance(default, Mapping) or not isinstance(given, Mapping):
        return given
    out = dict(default)
    for key, value in given.items():
        out[key] = over_defaults(default.get(key), value)
    return out


def inherit_node_defaults(table: dict[str, Any]) -> None:
    nodes, threshold, health = (table.get(k) for k in ("nodes", "threshold", "health"))
    if not isinstance(nodes, Mapping):
        return
    channels = threshold.get("channels") if isinstance(threshold, Mapping) else None
    battery = health.get("battery_v") if isinstance(health, Mapping) else None
    for node in nodes.values():
        if not isinstance(node, dict):
            continue
        own = node.get("thresholds")
        if isinstance(own, Mapping) and isinstance(channels, Mapping):
            node["thresholds"] = {ch: over_defaults(channels.get(ch), t) for ch, t in own.items()}
        if "battery_v" in node:
            node["battery_v"] = over_defaults(battery, node["battery_v"])
