"""The five top-level folders install as ``siaga.*`` and nothing else lands in site-packages."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("firmware_bridge", "analytics", "gateway", "api", "simulators")


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_listed_under_its_siaga_name() -> None:
    on_disk = {
        "siaga." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")
    }
    listed = set(_setuptools()["packages"])
    assert on_disk <= listed
    # The rest are data folders (the C codec, the dashboard's files): each one exists.
    for name in listed - on_disk:
        assert (ROOT / Path(*name.split(".")[1:])).is_dir(), name


def test_package_dir_maps_each_folder_once() -> None:
    assert _setuptools()["package-dir"] == {f"siaga.{f}": f for f in FOLDERS}


def test_installed_names_import_from_the_working_tree() -> None:
    for folder in FOLDERS:
        module = importlib.import_module(f"siaga.{folder}")
        assert Path(module.__file__ or "").resolve().parent == ROOT / folder


def test_console_scripts_point_at_siaga_modules() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for target in scripts.values():
        module, _, func = target.partition(":")
        assert module.startswith("siaga.")
        assert callable(getattr(importlib.import_module(module), func))


def _group(name: str) -> set[str]:
    """The distribution names an extras group installs, ``siaga[...]`` references expanded."""
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    names: set[str] = set()
    for requirement in groups[name]:
        if requirement.startswith("siaga["):
            for inner in requirement.removeprefix("siaga[").removesuffix("]").split(","):
                names |= _group(inner.strip())
        else:
            names.add(re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower())
    return names


@pytest.mark.parametrize("group", ["gateway", "hub", "sim"])
def test_a_group_whose_folder_imports_analytics_installs_what_analytics_needs(group: str) -> None:
    # siaga-sim evaluate and the anomaly corpus run the detectors: numpy, scipy, pydantic.
    assert _group("analytics") <= _group(group)
