"""Browser tests: Playwright (Python) driving Debian's Chromium against a live hub.

The hub is served by pytest-django's ``live_server`` (a real HTTP server in a thread, on the
test database; tests using it need ``transactional_db``). Chromium is the system one
(``apt-get install chromium``; ``CHROMIUM`` names another binary): Playwright's own browser
download is never used. Without Chromium the tests are skipped with a line saying how to get it,
except under CI (``CI`` set), where a missing browser fails the run: ``.ci/run`` installs it.

Screenshots go to ``artifacts/screenshots/`` (``HUB_ARTIFACTS`` names another folder), kept by
CI as test artefacts. Use ``phone`` (360×780) and ``tablet`` (1024×768) for pages, and
``shot(page, "name")`` to save one.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's async-safety guard would
# then refuse the test's own ORM calls. The live server runs in its own thread and is unaffected.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 780}
TABLET = {"width": 1024, "height": 768}
HOW_TO_GET_CHROMIUM = (
    "Chromium is needed for the browser tests: `sudo apt-get install chromium` (Debian/Ubuntu), "
    "or set CHROMIUM=/path/to/chromium"
)


def chromium_path() -> str | None:
    named = os.environ.get("CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    for candidate in ("chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(HOW_TO_GET_CHROMIUM)
        pytest.skip(HOW_TO_GET_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _page(browser, live_server, viewport):
    context = browser.new_context(base_url=live_server.url, viewport=viewport, locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    return context, page


@pytest.fixture
def phone(browser, live_server, transactional_db):
    """A page in a 360×780 phone viewport, Chinese locale, base URL the live hub."""
    context, page = _page(browser, live_server, PHONE)
    yield page
    context.close()


@pytest.fixture
def tablet(browser, live_server, transactional_db):
    """A page in a 1024×768 tablet viewport, Chinese locale, base URL the live hub."""
    context, page = _page(browser, live_server, TABLET)
    yield page
    context.close()


@pytest.fixture
def new_page(browser, live_server, transactional_db):
    """Make more pages (other people, other viewports): ``new_page(viewport=PHONE)``."""
    contexts = []

    def make(viewport=None):
        context, page = _page(browser, live_server, viewport or TABLET)
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()


def artifacts_dir() -> Path:
    root = Path(os.environ.get("HUB_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))
    folder = root / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def shot(request):
    """``shot(page, "after-earn")`` saves a full-page PNG named after the test and returns its path."""

    def save(page, name: str) -> Path:
        test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
        path = artifacts_dir() / f"{test}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
