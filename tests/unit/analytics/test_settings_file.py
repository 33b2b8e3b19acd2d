"""The one settings reader: TOML file, SIAGA_<PROCESS>__ overrides, errors naming the dotted key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import pytest
from annotated_types import Ge, doc

from siaga.analytics.errors import ConfigError
from siaga.analytics.settings_file import (
    apply_env,
    read_toml,
    reference_markdown,
    settings_adapter,
    validated,
)


@dataclass(frozen=True, slots=True)
class Inner:
    count: Annotated[int, Ge(1), doc("How many")] = 3


@dataclass(frozen=True, slots=True)
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    tags: tuple[str, ...] = ()


def validate(data: dict[str, object]) -> Outer:
    return validated(settings_adapter(Outer), data, "proc")


def test_env_sets_nested_keys_case_insensitively_with_json_lists() -> None:
    data: dict[str, object] = {"Inner": {"count": 1}}
    apply_env(data, {"SIAGA_P__INNER__COUNT": "7", "SIAGA_P__TAGS": '["a", "b"]',
                     "SIAGA_OTHER__NAME": "ignored", "SIAGA_P__NAME": "12345"}, "SIAGA_P__")
    assert data == {"Inner": {"count": "7"}, "tags": ["a", "b"], "name": "12345"}


def test_env_into_a_scalar_or_with_an_empty_part_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError) as err:
        apply_env({"name": "x"}, {"SIAGA_P__NAME__SUB": "1"}, "SIAGA_P__")
    assert err.value.key == "name"
    with pytest.raises(ConfigError) as err:
        apply_env({}, {"SIAGA_P__INNER____COUNT": "1"}, "SIAGA_P__")
    assert err.value.key == "SIAGA_P__INNER____COUNT"


def test_errors_name_the_dotted_key_below_the_root() -> None:
    with pytest.raises(ConfigError) as err:
        validate({"inner": {"count": 0}})
    assert err.value.key == "proc.inner.count"
    assert "greater than or equal to 1" in err.value.problem
    with pytest.raises(ConfigError) as err:
        validate({"inner": {"cuont": 2}})
    assert (err.value.key, err.value.problem) == ("proc.inner.cuont", "unknown key")
    assert validate({"inner": {"count": "4"}, "tags": ["t"]}) == Outer("x", Inner(4), ("t",))


def test_file_problems_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text("[a\n")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        read_toml(bad)
    assert err.value.key == str(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        read_toml(tmp_path / "missing.toml")


def test_reference_renders_dataclass_declarations() -> None:
    text = reference_markdown("proc", Outer, "SIAGA_P__")
    assert "| `proc.inner.count` | integer | `3` | >= 1 | How many |" in text
    assert "| `proc.tags` | list of text | `[]` |" in text
    assert "`SIAGA_P__PROC__<KEY>`" in text
