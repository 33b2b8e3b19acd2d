"""docs/configuration.md is exactly what the declarations render, so it cannot drift."""

from __future__ import annotations

from pathlib import Path

from siaga.api.config_reference import render

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_committed_reference_equals_the_generated_text() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: run `siaga-hub config-reference > docs/configuration.md`"
    )


def test_reference_lists_keys_with_bounds_defaults_docs_and_env_names() -> None:
    text = render()
    assert "| `server.port` | integer | `8080` | >= 0, <= 65_535 |" in text
    assert "`SIAGA_HUB__SERVER__<KEY>`" in text
    assert "| `agencies.<id>.name` | text | required |" in text
    assert "Rain gauge: mm of rain per bucket tip" in text  # the registry file's schema
