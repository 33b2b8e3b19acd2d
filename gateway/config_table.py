"""A gateway table validated against the dataclass that declares its keys.

The one settings reader (analytics.settings_file) does the work: pydantic over the stdlib
dataclasses, unknown keys refused, numbers finite (no nan, no inf), environment text converted to
the key's type. Here its ConfigError becomes the gateway's (same dotted key, exit 78).
"""

from __future__ import annotations

import typing
from collections.abc import Hashable
from functools import cache
from typing import Annotated, Any, TypeVar

from annotated_types import MinLen, doc
from pydantic import StringConstraints, TypeAdapter

from siaga.analytics.errors import ConfigError as SettingsError
from siaga.analytics.settings_file import check_types, settings_adapter, validated
from siaga.gateway.errors import ConfigError

T = TypeVar("T")

Text = Annotated[str, MinLen(1)]
# The ids the gateway puts into MQTT topics and records (gateway.id, uplink.gateway_id).
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$"),
                  doc("1-64 of letters, digits, '.', '_', '-'")]


@cache
def table_adapter(declared: Any) -> TypeAdapter[Any]:
    return settings_adapter(declared, finite=True)


def read_table(declared: type[T], table: Any, key: str = "", typed: Any = None) -> T:
    """``table`` as ``declared``; raises the gateway's ConfigError naming the dotted key below
    ``key``. The values of ``typed`` (default: all of ``table``; a file's values, not the
    environment's text) must already have their key's type."""
    adapter: TypeAdapter[T] = table_adapter(typing.cast(Hashable, declared))
    try:
        check_types(adapter, table if typed is None else typed, key)
        return validated(adapter, table, key)
    except SettingsError as exc:
        raise ConfigError(exc.key, exc.problem) from None
