"""Interactive API docs at ``/docs``: Swagger UI from the hub's own build, not a CDN.

A command centre without internet still gets working docs; the assets come from the dashboard
build (``swagger-ui-dist`` pinned in api/dashboard/package.json). Swagger UI starts from one
inline script; the page's Content-Security-Policy allows exactly that script by a nonce
drawn per request (api/security_headers.py), and no other inline script.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from siaga.api.dashboard_build import asset_url
from siaga.api.errors import ConfigError, Unavailable
from siaga.api.security_headers import content_security_policy

__all__ = ["router"]

router = APIRouter()


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    try:
        js, css = asset_url("swagger-ui-bundle.js", root + "/dashboard/"), \
            asset_url("swagger-ui.css", root + "/dashboard/")
    except ConfigError as exc:
        raise Unavailable(exc.message) from None
    page = get_swagger_ui_html(
        openapi_url=root + (request.app.openapi_url or "/openapi.json"),
        title=f"{request.app.title} — API", swagger_js_url=js, swagger_css_url=css,
        swagger_favicon_url="data:,")
    nonce = secrets.token_urlsafe(16)
    html = bytes(page.body).decode().replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(html, headers={
        "Content-Security-Policy": content_security_policy(script_nonce=nonce)})
