"""Shared pieces of the dashboard's browser tests: the build, Chromium, a closed network.

Every page is opened through ``open_page``, whose browser context lets requests reach only the
loopback hub: any other host is aborted and recorded, and the test fails at teardown, so the
dashboard provably needs no internet (no CDN, no font service, no tile server). Likewise any
Content-Security-Policy violation the browser reports fails the test: the pages must work
under the hub's policy (no inline script; api/security_headers.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    sync_playwright,
)

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, LOOPBACK, OpenPage


@pytest.fixture(scope="session", autouse=True)
def _built(dashboard_built: None) -> None:
    """Every browser test drives the built dashboard."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} missing: deploy/setup.sh installs Debian's chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """``open_page(viewport)``: a page in its own context that may reach loopback only."""
    contexts: list[BrowserContext] = []
    blocked: list[str] = []

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(("http:", "https:", "ws:", "wss:")) \
                and (urlsplit(url).hostname or "") not in LOOPBACK:
            blocked.append(url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    violations: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    def make(viewport: dict[str, int] | None = None) -> Page:
        ctx = browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        ctx.route("**/*", guard)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("console", watch)
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert not blocked, f"the dashboard asked for non-loopback hosts: {blocked}"
    assert not violations, f"the page broke the Content-Security-Policy: {violations}"
