"""Browser journeys: headless Debian Chromium driven by Playwright against ``live_server``.

Each journey saves a screenshot under ``<repo>/test-artifacts/screenshots/`` for a human to
look at. The Playwright sync API runs in the test thread; the live server runs in its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "Portal-Test-Secret-2024"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per module.

    Playwright's sync API keeps an asyncio loop running in the test thread (inside a greenlet)
    while it is started, so Django would refuse ORM calls from tests and fixtures; the thread
    stays synchronous, so the check is lifted exactly while Playwright runs, and stopping it
    after the module lets the tests that follow run with the check in place.
    """
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(
        base_url=live_server.url,
        locale="en-GB",
        viewport={"width": 1280, "height": 900},
        device_scale_factor=1,
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def on_console(message: Any) -> None:
        # A form with errors is re-rendered with status 422, which Chromium logs; expected.
        if message.type == "error" and "status of 422" not in message.text:
            errors.append(message.text)

    page.on("console", on_console)
    yield page
    context.close()
    # A CSP violation or a script error is a bug even when the journey got through.
    assert errors == [], errors


@pytest.fixture
def portal_user(transactional_db: Any, tenant: Any) -> Any:
    from cloudpbx.testing import make_user

    user = make_user(tenant, first_name="Anna")
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(page: Any, user: Any) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/pbx/")


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if not full_page:
        page.screenshot(path=str(path))
        return path
    # Grow the viewport to the page instead of Chromium's full-page capture, which paints
    # sticky elements (the action bar) where the viewport ended.
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path
