"""The uplink's layering (gateway/uplink/__init__.py): an HTTP gateway never loads paho, with
either sender. A fresh interpreter, as the other tests have imported it already."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["siaga.gateway.uplink.http_uplink",
                                    "siaga.gateway.uplink.sender_process"])
def test_the_http_uplink_does_not_import_paho(module: str) -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; "
         "print(sorted(m for m in sys.modules if m.split('.')[0] == 'paho'))"],
        check=True, capture_output=True, text=True).stdout.strip()
    assert loaded == "[]"
