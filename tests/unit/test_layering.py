"""The layering, pinned: which package may import which (README, "Layout").

Every import in every module counts, also one inside a function: a lazy import is still a
dependency the moment that code runs. Dev tooling (the simulators, the tests) sits above the
product packages, so a product package importing it would ship test code to a gateway.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("firmware_bridge", "analytics", "gateway", "api")
# What each package may import beyond the stdlib and itself: siaga packages by folder name,
# third-party distributions by their top-level module.
ALLOWED: dict[str, set[str]] = {
    # orjson only where installed (the gateway group): json_library.py falls back to the stdlib.
    "firmware_bridge": {"orjson"},
    # pydantic validates settings files (analytics.settings_file) and the registry file's schema.
    "analytics": {"firmware_bridge", "numpy", "scipy", "pydantic", "pydantic_core",
                  "annotated_types"},
    "gateway": {"firmware_bridge", "analytics", "numpy", "serial", "paho", "pymodbus",
                "pydantic", "annotated_types"},
    "api": {"firmware_bridge", "analytics", "numpy", "paho", "fastapi", "starlette",
            "uvicorn", "pydantic", "httpx", "anyio",
            # the InfluxDB writer's HTTP/1.1 (api/telemetry/influx_http.py)
            "h11",
            # the GSM modem notification channel (api/notify/gsm_modem.py)
            "serial",
            # PostgreSQL as the hub database (api/db_postgres.py; optional: siaga[postgres])
            "psycopg", "psycopg_pool"},
    "simulators": {"firmware_bridge", "analytics", "numpy", "serial", "paho", "pymodbus",
                   # the province fleet's logical gateways batch with the gateway's own
                   # uplink.batch_sizer and settings defaults (simulators/logical_gateway.py)
                   "gateway",
                   # the local SMTP inbox (smtp_inbox.SmtpInbox) for tests and the demo
                   "aiosmtpd",
                   # servers.PostgreSQL makes databases and schemas for tests and the demo
                   "psycopg"},
}


def imports_of(path: Path) -> set[str]:
    """The top-level names ``path`` imports: the folder name for ``siaga.X``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            names.add(parts[1] if parts[0] == "siaga" and len(parts) > 1 else parts[0])
    return names


def foreign_imports(package: str) -> dict[str, set[str]]:
    """Per module of ``package``: what it imports that is neither stdlib nor allowed."""
    ok = ALLOWED[package] | {package, "siaga"} | set(sys.stdlib_module_names)
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imports_of(path) - ok
        if bad:
            out[str(path.relative_to(ROOT))] = bad
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    assert foreign_imports(package) == {}


@pytest.mark.parametrize("package", PRODUCT)
def test_product_code_never_imports_dev_tooling(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        assert not imports_of(path) & {"simulators", "tests"}, path


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from siaga.simulators.servers import Mosquitto\n"
                      "import tests.api_fixtures\n")
    assert imports_of(module) == {"simulators", "tests"}
