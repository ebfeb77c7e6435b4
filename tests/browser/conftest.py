"""Browser fixtures: one headless Chromium per session, a guarded page per test.

A test using ``page`` (or ``open_page``) fails if the page asked another host for anything or
logged a console error or an uncaught exception (see ``tests/browser/browser.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.browser import DESKTOP, Guard, chromium_path, launch, new_page
from tests.service.requests.api import Api
from tests.support.databases import unavailable


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if chromium_path() is None:
        unavailable("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def guard() -> Guard:
    return Guard()


@pytest.fixture
def open_page(browser, guard) -> Iterator:
    """``open_page(viewport=(w, h), at=(lon, lat), touch=False, **context_args)``: a new guarded page
    in its own context; ``at`` grants geolocation and puts the device there, ``touch`` makes it a
    touch-screen phone."""
    contexts = []

    def open_(
        *,
        viewport: tuple[int, int] = DESKTOP,
        at: tuple[float, float] | None = None,
        touch: bool = False,
        **context_args,
    ) -> Page:
        if at is not None:
            context_args |= {"geolocation": {"longitude": at[0], "latitude": at[1]}, "permissions": ["geolocation"]}
        if touch:
            context_args |= {"has_touch": True, "is_mobile": True}
        context, page = new_page(browser, guard, viewport=viewport, **context_args)
        contexts.append(context)
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page) -> Page:
    return open_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After the test body: fail it if its pages misbehaved (off-site requests, console errors)."""
    guard = getattr(item, "funcargs", {}).get("guard")
    try:
        result = yield
    except BaseException:
        if guard is not None and guard.problems():  # say what the page did, to explain the failure
            item.add_report_section("call", "browser", "\n".join(guard.problems()))
        raise
    if guard is not None:
        guard.check()
    return result


@pytest.fixture
def cases(api, clock) -> Api:
    """The served app through its API (the shared ``api``); the clock is put back, then the requests
    created through it are settled, when the test ends."""
    return api


@pytest.fixture(scope="session")
def screenshot_dir() -> Path | None:
    """Where layout tests save their screenshots: ``NEIGHBORGRID_SCREENSHOTS`` (e.g. docs/screenshots)."""
    value = os.environ.get("NEIGHBORGRID_SCREENSHOTS")
    return Path(value) if value else None
