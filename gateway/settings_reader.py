"""Typed reads of one TOML table, each error naming the dotted key it is about.

Values that came from the environment (``EnvText``) are text and are parsed to the
type the key wants; values from the TOML file must already have that type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from siaga.gateway.errors import ConfigError

TOKEN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class EnvText(str):
    """A value given as an environment variable: text to parse, not yet typed."""


class TableReader:
    def __init__(self, table: Mapping[str, Any], path: str) -> None:
        self._table = table
        self._path = path
        self._seen: set[str] = set()

    @classmethod
    def of(cls, raw: Mapping[str, Any], name: str) -> TableReader:
        table = raw.get(name, {})
        if not isinstance(table, Mapping):
            raise ConfigError(name, "must be a table")
        return cls(table, name)

    def key(self, name: str) -> str:
        return f"{self._path}.{name}"

    def keys(self) -> Iterable[str]:
        self._seen.update(self._table)
        return list(self._table)

    def _get(self, name: str) -> Any:
        self._seen.add(name)
        return self._table.get(name)

    def table(self, name: str) -> TableReader:
        value = self._get(name)
        if not isinstance(value, Mapping):
            raise ConfigError(self.key(name), "must be a table")
        return TableReader(value, self.key(name))

    def text(self, name: str, default: str) -> str:
        value = self._get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ConfigError(self.key(name), f"must be a string, got {value!r}")
        if not value:
            raise ConfigError(self.key(name), "must not be empty")
        return str(value)

    def optional_text(self, name: str) -> str | None:
        if self._table.get(name) is None:
            self._seen.add(name)
            return None
        return self.text(name, "")

    def token(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not TOKEN.match(value):
            raise ConfigError(
                self.key(name), f"{value!r} must be 1-64 of letters, digits, '.', '_', '-'"
            )
        return value

    def path(self, name: str, default: Path) -> Path:
        value = self._get(name)
        if value is None:
            return default
        return Path(self.text(name, "")).expanduser()

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in allowed:
            raise ConfigError(self.key(name), f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def integer(self, name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, EnvText):
            try:
                value = int(value)
            except ValueError:
                raise ConfigError(self.key(name), f"{value!r} is not an integer") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self.key(name), f"must be an integer, got {value!r}")
        self._check_range(name, value, lo, hi)
        return value

    def number(
        self, name: str, default: float, lo: float | None = None, hi: float | None = None
    ) -> float:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, EnvText):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(self.key(name), f"{value!r} is not a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(self.key(name), f"must be a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(self.key(name), "must be a finite number")
        self._check_range(name, value, lo, hi)
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, EnvText):
            word = value.strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise ConfigError(self.key(name), f"{value!r} is not true or false")
        if not isinstance(value, bool):
            raise ConfigError(self.key(name), f"must be true or false, got {value!r}")
        return value

    def strings(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, EnvText):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(self.key(name), f"must be a list of non-empty strings, got {value!r}")
        return tuple(value)

    def _check_range(self, name: str, value: float, lo: float | None, hi: float | None) -> None:
        if lo is not None and value < lo:
            raise ConfigError(self.key(name), f"{value} is below the minimum {lo}")
        if hi is not None and value > hi:
            raise ConfigError(self.key(name), f"{value} is above the maximum {hi}")

    def reject_unknown(self) -> None:
        unknown = sorted(set(self._table) - self._seen)
        if unknown:
            known = ", ".join(sorted(self._seen)) or "none"
            raise ConfigError(self.key(unknown[0]), f"unknown key (known keys: {known})")
