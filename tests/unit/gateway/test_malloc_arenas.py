"""The gateway caps glibc's malloc arenas unless MALLOC_ARENA_MAX says otherwise."""

from __future__ import annotations

import platform

import pytest

from siaga.gateway.malloc_arenas import limit_malloc_arenas


def test_an_environment_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


def test_glibc_takes_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is (platform.libc_ver()[0] == "glibc")
