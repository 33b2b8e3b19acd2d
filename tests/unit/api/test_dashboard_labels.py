"""Every word of the hub's vocabularies the dashboard shows has a label in both languages.

The dashboard falls back to the bare key (``tl.notify``) when a label is missing, so a new
timeline kind, hazard or stage landing at the hub without its labels shows staff a code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from siaga.api.incidents.models import Stage, TimelineEntry
from siaga.firmware_bridge.vocabulary import HAZARDS

I18N = Path(__file__).resolve().parents[3] / "api" / "dashboard" / "static" / "i18n.js"


def _labels() -> dict[str, set[str]]:
    """The keys of each language's table in i18n.js."""
    text = I18N.read_text()
    tables = re.split(r"^  (id|en): \{$", text, flags=re.M)
    keys = {}
    for lang, body in zip(tables[1::2], tables[2::2], strict=True):
        pairs = re.findall(r'(?:"([\w.]+)"|\b(\w+)): "', body.split("\n  },")[0])
        keys[lang] = {quoted or bare for quoted, bare in pairs}
    return keys


WORDS = (
    [f"tl.{kind}" for kind in get_args(TimelineEntry.model_fields["kind"].annotation)]
    + [f"hz.{hazard}" for hazard in HAZARDS]
    + [f"status.{stage}" for stage in get_args(Stage)]
)


@pytest.mark.parametrize("lang", ["id", "en"])
def test_every_shown_vocabulary_word_has_a_label(lang: str) -> None:
    assert sorted(set(WORDS) - _labels()[lang]) == []


def test_the_reader_sees_both_tables() -> None:
    labels = _labels()
    assert {"tl.opened", "hz.fire", "status.open", "signout"} <= labels["id"] & labels["en"]
