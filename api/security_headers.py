"""Security headers on every answer, dashboard and API alike (pure ASGI; docs/security.md).

- ``Content-Security-Policy``: scripts only from the hub itself, never inline (the dashboard
  has no inline script or handler attribute); no plugins, no ``<base>``, no framing. Styles
  may be inline (Leaflet and Swagger UI set them; a style cannot run code). Images may also
  come from the tile server ``dashboard.tile_url`` names, when one is set.
- ``X-Frame-Options: DENY`` (older browsers) beside ``frame-ancestors 'none'``: no page of the
  hub can be framed by another site (clickjacking an "acknowledge" button).
- ``X-Content-Type-Options: nosniff``: an uploaded or reflected text is never run as script.
- ``Referrer-Policy: no-referrer``: a stream URL with ``?access_token=`` never leaks through
  a Referer header.

A route that needs another policy (``/docs``: Swagger UI's one inline script, allowed by a
per-request nonce) sets its own ``Content-Security-Policy``; headers a response already has
are left as they are. HSTS belongs to the TLS proxy in front.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders", "content_security_policy"]


def content_security_policy(tile_url: str = "", script_nonce: str | None = None) -> str:
    """The hub's policy; ``tile_url`` adds its origin to img-src, ``script_nonce`` allows the
    one inline script carrying it."""
    images = ["'self'", "data:", "blob:"]
    if tile_url:
        parts = urlsplit(tile_url.replace("{s}", "a"))
        if parts.scheme in ("http", "https") and parts.netloc:
            host = parts.netloc.replace("a.", "*.", 1) if "{s}" in tile_url else parts.netloc
            images.append(f"{parts.scheme}://{host}")
    scripts = "'self'" + (f" 'nonce-{script_nonce}'" if script_nonce else "")
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",
        f"img-src {' '.join(images)}",
        "connect-src 'self'",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, tile_url: str = "") -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", content_security_policy(tile_url).encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()),
                                      *((k, v) for k, v in self.headers if k not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
