"""Typed readers for TOML tables that raise ``ConfigError`` naming the full key path.

Each settings dataclass of the gateway reads its own table with these, so a bad
value in ``gateway.toml`` is reported as ``uplink.port: expected an integer``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.errors import ConfigError


def key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def reject_unknown(table: Mapping[str, Any], path: str, known: Sequence[str]) -> None:
    """A misspelt key must not silently fall back to a default."""
    for key in table:
        if key not in known:
            raise ConfigError(key_path(path, key), f"unknown key (known: {', '.join(known)})")


def get_str(table: Mapping[str, Any], path: str, key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(key_path(path, key), f"expected a string, got {value!r}")
    return value


def get_optional_str(table: Mapping[str, Any], path: str, key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(key_path(path, key), f"expected a non-empty string, got {value!r}")
    return value


def get_bool(table: Mapping[str, Any], path: str, key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(key_path(path, key), f"expected true or false, got {value!r}")
    return value


def get_int(
    table: Mapping[str, Any], path: str, key: str, default: int, *, minimum: int = 0,
    maximum: int | None = None,
) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key_path(path, key), f"expected an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ConfigError(key_path(path, key), f"must be >= {minimum}{upper}, got {value}")
    return value


def get_float(
    table: Mapping[str, Any], path: str, key: str, default: float, *, minimum: float = 0.0,
) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key_path(path, key), f"expected a number, got {value!r}")
    if not value >= minimum:  # also rejects nan
        raise ConfigError(key_path(path, key), f"must be >= {minimum}, got {value}")
    return float(value)


def get_argv(table: Mapping[str, Any], path: str, key: str) -> tuple[str, ...]:
    value = table.get(key)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(part, str) and part for part in value)
    ):
        raise ConfigError(
            key_path(path, key),
            'expected a non-empty list of strings, e.g. ["/usr/local/bin/siren", "on"]',
        )
    return tuple(value)


def get_str_list(table: Mapping[str, Any], path: str, key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(key_path(path, key), f"expected a list of strings, got {value!r}")
    return tuple(value)
