"""One way to read a settings file: TOML, then ``SIAGA_<PROCESS>__TABLE__KEY`` environment
overrides, validated by pydantic against the declarations of the models or dataclasses that use
the keys, every error naming the dotted key.

Each process has one environment prefix (``SIAGA_HUB__``, ``SIAGA_GATEWAY__``); after it, the
dotted key with ``__`` for each dot: ``SIAGA_HUB__SERVER__PORT=9000`` sets ``server.port``.
Keys match case-insensitively (``SIAGA_HUB__AGENCIES__BPBD__NAME`` finds ``BPBD``). A value that
starts with ``[`` or ``{`` is JSON (lists, tables); anything else is text that pydantic converts
to the key's type (``"9000"`` -> 9000, ``"true"`` -> True), so a password of digits stays text.

Lives in analytics because it is the lowest package every process imports that may use pydantic
(firmware_bridge is stdlib-only); the reference (``reference_markdown``) is rendered from the same
declarations, so docs/configuration.md cannot drift from the code.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from siaga.analytics.errors import ConfigError

__all__ = ["apply_env", "config_error", "read_toml"]


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file; ConfigError keyed by the path when it is missing or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), "config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None


def env_value(raw: str) -> Any:
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def apply_env(data: dict[str, Any], env: Mapping[str, str], prefix: str) -> None:
    """Set every ``<prefix>A__B__C`` variable of ``env`` as key ``a.b.c`` of ``data``, in place."""
    for name, raw in sorted(env.items()):
        if not name.startswith(prefix):
            continue
        path = name[len(prefix):].split("__")
        if not all(path):
            raise ConfigError(name, "empty table or key name in environment variable")
        node = data
        walked: list[str] = []
        for i, part in enumerate(path):
            key = next((k for k in node if k.lower() == part.lower()), part.lower())
            walked.append(key)
            if i == len(path) - 1:
                node[key] = env_value(raw)
                break
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(".".join(walked), "must be a table")
            node = child


def config_error(exc: ValidationError, root: str = "") -> ConfigError:
    """The first problem as ``ConfigError(dotted key, reason)``; further ones join the reason."""
    problems = []
    for e in exc.errors():
        parts = [root] if root else []
        parts += [str(p) for p in e["loc"] if not _is_union_tag(p)]
        key = ".".join(parts) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        problems.append((key, msg.removeprefix("Value error, ")))
    key, msg = problems[0]
    if len(problems) > 1:
        msg += "; " + "; ".join(f"{k}: {m}" for k, m in problems[1:])
    return ConfigError(key, msg)


def _is_union_tag(part: str | int) -> bool:
    # pydantic puts the union member it tried into the location ("function-after[...]", "int").
    return isinstance(part, str) and ("[" in part or part in {"int", "float", "str", "bool"})
