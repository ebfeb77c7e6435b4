"""Headless Chromium for the page tests, with guards: nothing may leave 127.0.0.1, nothing may log an error.

Debian's ``chromium`` is launched through Python Playwright with ``executable_path`` (Playwright's
own browser download is never used). Every browser context routes any request to another host
to an abort and records it; every page records console errors and uncaught exceptions. A test
fails on any of them unless it declared the exact message it expects (``Guard.allow``).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, Route

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Every URL that is not on the loopback test server (http or ws, any port).
OFFSITE = re.compile(r"^(?!(?:https?|wss?)://127\.0\.0\.1(?::\d+)?(?:/|$))[a-z][a-z0-9+.-]*://")
DESKTOP = (1440, 900)
PHONE = (375, 812)
#: The demo community (Changtai, Zhangzhou) keeps China's time.
TIMEZONE = "Asia/Shanghai"


def chromium_path() -> str | None:
    return os.environ.get("NEIGHBORGRID_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)


@dataclass
class Guard:
    """Records what must not happen in a page test: off-site requests, console errors, page errors."""

    offsite: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Accept console errors matching ``pattern`` (regex) in this test, e.g. an expected 409."""
        self.allowed.append(re.compile(pattern))

    def attach(self, context: BrowserContext) -> None:
        context.route(OFFSITE, self._abort)
        context.on("page", self.watch)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _abort(self, route: Route) -> None:
        self.offsite.append(route.request.url)
        route.abort("blockedbyclient")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        where = message.location.get("url", "") if message.location else ""
        if any(p.search(text) for p in self.allowed):
            return
        self.errors.append(f"console error: {text} ({where})")

    def problems(self) -> list[str]:
        return [f"request to another host: {u}" for u in self.offsite] + self.errors

    def check(self) -> None:
        problems = self.problems()
        assert not problems, "the page misbehaved:\n  " + "\n  ".join(problems)


def new_page(
    browser: Browser,
    guard: Guard,
    *,
    viewport: tuple[int, int] = DESKTOP,
    lang: str = "zh-CN",
    **context_args,
) -> tuple[BrowserContext, Page]:
    """A fresh context (own storage) and page, guarded."""
    context = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]},
        locale=lang,
        timezone_id=TIMEZONE,
        service_workers="block",
        **context_args,
    )
    context.set_default_timeout(15_000)
    guard.attach(context)
    page = context.new_page()
    return context, page


def sign_in(page: Page, username: str, password: str) -> None:
    """Fill the page's sign-in form and wait for the signed-in panel."""
    page.wait_for_selector("#ng-login")
    page.fill("#ng-username", username)
    page.fill("#ng-password", password)
    page.click("#ng-login button[type=submit]")
    page.wait_for_selector("#ng-body")


def screenshot(page: Page, name: str, *, directory: Path | None) -> Path | None:
    """Save a PNG (quantised to 256 colours, so the docs stay small) when ``directory`` is set."""
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path))
    try:
        from PIL import Image

        with Image.open(path) as img:
            img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                path, optimize=True
            )
    except ImportError:  # Pillow is optional: keep the plain PNG
        pass
    return path


def wait_until(page: Page, expression: str, *, timeout_ms: float = 10_000, arg=None) -> None:
    """Wait until a JavaScript expression (or function of ``arg``) is truthy in the page.

    Plain expressions are wrapped in a function: the pages' Content-Security-Policy forbids eval,
    which Playwright would otherwise use for them."""
    if not re.match(r"^\s*(\(|function\b|async\b|[A-Za-z_$][\w$]*\s*=>)", expression):
        expression = f"() => ({expression})"
    page.wait_for_function(expression, arg=arg, timeout=timeout_ms)
