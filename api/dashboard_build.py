"""The built dashboard: ``api/dashboard/build`` as written by ``api/dashboard/build.mjs``.

``deploy/setup.sh`` runs the build (``npm ci`` + esbuild); the output is not committed. Its
``manifest.json`` maps a logical file name (``app.js``, ``swagger-ui.css``) to the hashed path
under ``assets/``, whose names change with their content, so the hub can serve them as
immutable while ``index.html`` is always revalidated.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from siaga.api.errors import ConfigError

__all__ = ["ASSETS_DIR", "BUILD_DIR", "INDEX_HTML", "asset_url"]

BUILD_DIR = Path(__file__).resolve().parent / "dashboard" / "build"
ASSETS_DIR = BUILD_DIR / "assets"
INDEX_HTML = BUILD_DIR / "index.html"


@cache
def _manifest() -> dict[str, str]:
    path = BUILD_DIR / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("dashboard", f"{path} missing: the dashboard is not built "
                          "(run deploy/setup.sh, or deploy/build-dashboard.sh)") from None
    return {str(k): str(v) for k, v in data.items()}


def asset_url(name: str, prefix: str = "/dashboard/") -> str:
    """The URL of a built asset by its logical name (``swagger-ui.css``)."""
    return prefix + _manifest()[name]
