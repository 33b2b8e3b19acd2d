"""The gateway's environment variables as tables to lay over its file.

``SIAGA_GATEWAY__<TABLE>__<KEY>``, the scheme every Siaga process uses (analytics.settings_file),
and the older ``SIAGA_<TABLE>__<KEY>`` the gateway read before it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Mapping
from typing import Any

from siaga.analytics import settings_file
from siaga.analytics.errors import ConfigError as SettingsError
from siaga.gateway.errors import ConfigError

ENV_PREFIX = "SIAGA_GATEWAY__"
# Before one scheme for every process the gateway read SIAGA_<TABLE>__<KEY>; still honoured.
LEGACY_ENV_PREFIX = "SIAGA_"
OTHER_PROCESS_ENV_PREFIXES = ("SIAGA_HUB__",)
# Tables whose reader takes TOML values only (strict types): environment text becomes one.
TOML_VALUED = ("analytics", "modbus", "lorawan", "sdi12")


def env_tables(env: Mapping[str, str], tables: Collection[str]) -> dict[str, Any]:
    """``SIAGA_GATEWAY__<TABLE>__<KEY>`` (the scheme every process uses) and the older
    ``SIAGA_<TABLE>__<KEY>`` as tables (of the gateway's ``tables``); the first wins where both
    set one key. Values stay text, converted to each key's type when validated."""
    current, legacy = {}, {}
    for name, value in env.items():
        rest = name.removeprefix(ENV_PREFIX)
        if rest != name and rest.split("__")[0].lower() in tables:
            current[name] = value
        elif (name.startswith(LEGACY_ENV_PREFIX) and "__" in name
              and not name.startswith(OTHER_PROCESS_ENV_PREFIXES)):
            legacy[name] = value
    out: dict[str, Any] = {}
    try:
        settings_file.apply_env(out, legacy, LEGACY_ENV_PREFIX)
        settings_file.apply_env(out, current, ENV_PREFIX)
    except SettingsError as exc:
        raise ConfigError(exc.key, exc.problem) from None
    serial = out.get("serial")
    if isinstance(serial, dict) and isinstance(serial.get("ports"), str):
        serial["ports"] = [p.strip() for p in serial["ports"].split(",") if p.strip()]
    for name in TOML_VALUED:
        if isinstance(out.get(name), dict):
            out[name] = toml_values(out[name])
    return out


def toml_values(table: Mapping[str, Any]) -> dict[str, Any]:
    """Environment text as TOML values for the TOML_VALUED tables, whose readers want typed values
    (``SIAGA_ANALYTICS__DETECTORS='["fire"]'``); text that is no TOML value stays text."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            out[key] = toml_values(value)
        elif isinstance(value, str):
            try:
                out[key] = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                out[key] = value
        else:
            out[key] = value
    return out
