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

import dataclasses
import json
import math
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sized
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, to_jsonable_python

from siaga.analytics.errors import ConfigError

__all__ = [
    "apply_env",
    "check_types",
    "config_error",
    "read_toml",
    "reference_markdown",
    "settings_adapter",
    "validated",
]


T = typing.TypeVar("T")
FIELD_PROBLEM = re.compile(r"^([A-Za-z0-9_.\[\]-]+): (.+)$", re.DOTALL)
UNKNOWN_KEY_ERRORS = frozenset({"extra_forbidden", "unexpected_keyword_argument"})


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


def settings_adapter(declared: Any, *, finite: bool = False) -> TypeAdapter[Any]:
    """A validator for a dataclass tree that, like the hub's models, refuses unknown keys.

    Stdlib dataclasses stay free of pydantic: the config pydantic reads from them
    (``__pydantic_config__``) is set here, on every dataclass reachable from ``declared``.
    ``finite``: numbers must be finite (no nan, no inf) in those dataclasses.
    """
    config: dict[str, Any] = {"extra": "forbid"}
    if finite:
        config["allow_inf_nan"] = False
    _set_config(declared, config, set())
    return TypeAdapter(declared)


def _set_config(declared: Any, config: dict[str, Any], seen: set[int]) -> None:
    if id(declared) in seen:
        return
    seen.add(id(declared))
    if isinstance(declared, type) and dataclasses.is_dataclass(declared):
        if "__pydantic_config__" not in declared.__dict__:
            declared.__pydantic_config__ = config  # type: ignore[attr-defined]
        for hint in typing.get_type_hints(declared).values():
            _set_config(hint, config, seen)
    for arg in typing.get_args(declared):
        _set_config(arg, config, seen)


def validated(adapter: TypeAdapter[T], data: Any, root: str = "", *, strict: bool = False) -> T:
    """``data`` validated, or ConfigError naming the first wrong key below ``root``.

    ``strict``: every value must already have its key's type (a TOML file's values do; ``"60"``
    is no number), checked in JSON mode, where tables become dataclasses and arrays tuples.
    Without it, text converts to the key's type (environment values are text).
    """
    try:
        if strict:
            return adapter.validate_json(json.dumps(data, default=str), strict=True)
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise config_error(exc, root) from None


def check_types(adapter: TypeAdapter[Any], data: Any, root: str = "") -> None:
    """ConfigError for the first value that does not already have its key's type, as a file's
    values must (``"60"`` is no number, ``"yes"`` no boolean), when ``data`` is validated later
    together with environment text (``validated`` without ``strict``). Missing keys and checks
    across keys are left to that validation, which sees the whole merged table."""
    try:
        adapter.validate_json(json.dumps(data, default=str), strict=True)
    except ValidationError as exc:
        wrong = [e for e in exc.errors() if e["type"].endswith("_type")]
        if wrong:
            raise problems_error(wrong, root) from None


def config_error(exc: ValidationError, root: str = "") -> ConfigError:
    """The first problem as ``ConfigError(dotted key, reason)``; further ones join the reason.

    A check in a ``__post_init__`` names the field it is about as ``"field: problem"``; the
    field joins the key.
    """
    return problems_error(exc.errors(), root)


def problems_error(errors: list[ErrorDetails], root: str = "") -> ConfigError:
    """``config_error`` for some of a ValidationError's problems."""
    problems = []
    for e in _without_consequences(errors):
        key = root
        for part in e["loc"]:
            if isinstance(part, int):
                key += f"[{part}]"
            elif not _is_union_tag(part):
                key = f"{key}.{part}" if key else part
        msg = "unknown key" if e["type"] in UNKNOWN_KEY_ERRORS else e["msg"]
        msg = msg.removeprefix("Value error, ")
        named = FIELD_PROBLEM.match(msg) if e["type"] == "value_error" else None
        if named:  # a validator that names the whole dotted key keeps it
            field = named[1]
            nested = key and not (field == key or field.startswith(key + "."))
            key, msg = f"{key}.{field}" if nested else field, named[2]
        problems.append((key or "(top level)", msg))
    key, msg = problems[0]
    if len(problems) > 1:
        msg += "; " + "; ".join(f"{k}: {m}" for k, m in problems[1:])
    return ConfigError(key, msg)


def _without_consequences(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    # pydantic counts only the items that validated, so an array whose one item is wrong is
    # also "too short": a false second problem ("should have at least 1 item"), not the user's.
    # The input's own length says whether it was.
    def false_too_short(e: ErrorDetails) -> bool:
        given, ctx = e.get("input"), e.get("ctx") or {}
        return (e["type"] == "too_short" and isinstance(given, Sized)
                and len(given) >= ctx.get("min_length", 0))
    return [e for e in errors if not false_too_short(e)]


def _is_union_tag(part: str | int) -> bool:
    # pydantic puts the union member it tried into the location ("function-after[...]", "int").
    return isinstance(part, str) and ("[" in part or part in {"int", "float", "str", "bool"})


# -- the configuration reference, rendered from the declarations ------------------------------


def reference_markdown(root: str, declared: type, env_prefix: str | None = None) -> str:
    """Markdown tables of every key under ``root`` (a pydantic model or a dataclass)."""
    out: list[str] = []
    _render_table(root, declared, env_prefix, out)
    return "\n".join(out)


def _render_table(path: str, declared: type, env_prefix: str | None, out: list[str],
                  instance: Any = None) -> None:
    """One table's rows, then its sub-tables; defaults from ``instance`` when given (the
    default a parent declares for this table, which may differ from the class defaults)."""
    rows: list[str] = []
    nested: list[tuple[str, type, Any]] = []
    for name, annotation, default, info in _fields(declared):
        if instance is not None:
            default = getattr(instance, name, default)
        key = f"{path}.{name}" if path else name
        inner = _table_type(annotation)
        if inner is not None:
            nested.append((key, inner, default if isinstance(default, inner) else None))
            continue
        member = _table_type(_dict_value(annotation))
        if member is not None:
            nested.append((f"{key}.<id>", member, None))
            continue
        item = _table_type(_list_item(annotation))
        if item is not None:
            nested.append((f"{key}[]", item, None))
            continue
        rows.append(f"| `{key}` | {_type_name(annotation)} | {_default_text(default)} | "
                    f"{_bounds(info)} | {_escape(info.get('doc', ''))} |")
    if rows:
        out.append(f"### `[{path}]`\n" if path else "### top level\n")
        doc = _first_line(declared.__doc__)
        if doc and not doc.startswith(declared.__name__ + "("):  # not dataclass's own text
            out.append(doc + "\n")
        if env_prefix and path and "<id>" not in path and "[]" not in path:
            var = env_prefix + path.upper().replace(".", "__") + "__<KEY>"
            out.append(f"Environment: `{var}`.\n")
        out.append("| key | type | default | bounds | meaning |")
        out.append("| --- | --- | --- | --- | --- |")
        out.extend(rows)
        out.append("")
    for sub_path, sub, sub_default in nested:
        _render_table(sub_path, sub, env_prefix, out, sub_default)


_MISSING = object()


def _fields(declared: type) -> list[tuple[str, Any, Any, dict[str, Any]]]:
    """(name, annotation, default, {"doc", "ge", ...}) of each field, in declaration order."""
    if issubclass(declared, BaseModel):
        return [_model_field(name, f) for name, f in declared.model_fields.items()]
    hints = typing.get_type_hints(declared, include_extras=True)
    return [_dataclass_field(f, hints[f.name])
            for f in dataclasses.fields(typing.cast(Any, declared)) if f.init]


def _model_field(name: str, f: FieldInfo) -> tuple[str, Any, Any, dict[str, Any]]:
    default = _MISSING if f.is_required() else f.get_default(call_default_factory=True)
    info = _constraints(f.metadata)
    if f.description:
        info["doc"] = f.description
    return name, f.annotation, default, info


def _dataclass_field(f: dataclasses.Field[Any], annotation: Any,
                     ) -> tuple[str, Any, Any, dict[str, Any]]:
    info: dict[str, Any] = {}
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *meta = typing.get_args(annotation)
        info = _constraints(meta)
    if _is_union(annotation):  # an optional bounded type (``AlertAfter | None``): its bounds
        for arg in typing.get_args(annotation):
            if typing.get_origin(arg) is typing.Annotated:
                info = {**_constraints(list(typing.get_args(arg)[1:])), **info}
    default: Any = _MISSING
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    return f.name, annotation, default, info


def _constraints(meta: list[Any]) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for m in meta:
        if isinstance(m, annotated_types.DocInfo):
            info["doc"] = m.documentation
            continue
        for attr in ("gt", "ge", "lt", "le", "min_length", "max_length", "pattern"):
            value = getattr(m, attr, None)
            if value is not None:
                info[attr] = value
    return info


def _table_type(annotation: Any) -> type | None:
    """The model or dataclass a field holds (also when optional), else None."""
    args = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    for a in args:
        if isinstance(a, type) and (issubclass(a, BaseModel) or dataclasses.is_dataclass(a)):
            return a
    return None


def _dict_value(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (dict, Mapping):
        return typing.get_args(annotation)[1]
    return None


def _list_item(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (list, tuple):
        return typing.get_args(annotation)[0]
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`"
                            for a in typing.get_args(annotation))
    if _is_union(annotation):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    names = {type(None): "none", str: "text", int: "integer", float: "number", bool: "boolean",
             Path: "path", SecretStr: "secret text"}
    if annotation in names:
        return names[annotation]
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return "list of " + _type_name(typing.get_args(annotation)[0])
    if origin in (dict, Mapping):
        return "table of " + _type_name(typing.get_args(annotation)[1])
    return f"`{getattr(annotation, '__name__', annotation)}`"


def _default_text(default: Any) -> str:
    if default is _MISSING:
        return "required"
    if default is None:
        return "(none)"
    value = to_jsonable_python(default)
    if isinstance(value, float) and math.isinf(value):
        return "off" if value > 0 else "-inf"
    text = json.dumps(value, ensure_ascii=False)
    return f"`{_escape(text)}`"


def _bounds(info: Mapping[str, Any]) -> str:
    parts = [f"{sign} {_number(info[k])}" for k, sign in
             (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")) if k in info]
    if "min_length" in info or "max_length" in info:
        parts.append(f"length {info.get('min_length', 0)}..{info.get('max_length', '')}")
    if "pattern" in info:
        parts.append(f"`{_escape(info['pattern'])}`")
    return ", ".join(parts)


def _number(value: float) -> str:
    return f"{int(value):_}" if float(value).is_integer() else f"{value:g}"


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ")


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
