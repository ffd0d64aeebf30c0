"""A real browser for the pages' tests: Debian's headless Chromium (/usr/bin/chromium)
driven by Playwright, against the real server (uvicorn on a free loopback port: the team
server of tests/conftest.py). Never `playwright install`: it downloads; the system's
Chromium is used instead (scripts/system-deps.sh installs it).

Screenshots of each page are kept as test artefacts under ``test-artifacts/pages/``
(git-ignored), or ``$QYLON_ARTIFACTS/pages``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}  # a common phone's CSS viewport
DESKTOP = {"width": 1280, "height": 800}
ROOT = Path(__file__).resolve().parents[2]


def artefacts() -> Path:
    base = Path(os.environ.get("QYLON_ARTIFACTS") or ROOT / "test-artifacts")
    folder = base / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser, name: str):
    viewport = PHONE if name == "phone" else DESKTOP
    context = browser.new_context(
        viewport=viewport, is_mobile=name == "phone", has_touch=name == "phone"
    )
    tab = context.new_page()
    tab.viewport_name = name
    return context, tab


@pytest.fixture(params=["desktop", "phone"])
def page(request, browser):
    """A fresh page (its own context: no cookies shared) at a desktop and at a phone viewport."""
    context, tab = _page(browser, request.param)
    yield tab
    context.close()


@pytest.fixture
def desktop(browser):
    """A fresh page at a desktop viewport only (for tests whose layout does not matter)."""
    context, tab = _page(browser, "desktop")
    yield tab
    context.close()


def shot(page, name: str) -> Path:
    """Save a full-page screenshot of ``page`` as ``NAME-VIEWPORT.png``."""
    path = artefacts() / f"{name}-{page.viewport_name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
