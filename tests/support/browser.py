"""Pages in a real browser: Debian's headless Chromium, driven by Playwright, checked by axe-core.

    chromium_or_skip()                 # skips, naming the install command, without it
    browser = stack.enter_context(launch_browser())
    with open_page(browser, "http://127.0.0.1:8001/voice/river", 390) as visit:
        visit.status                   # 200
        axe_violations(visit.page)     # [] when axe-core finds nothing
        has_horizontal_scroll(visit.page)
        save_screenshot(visit.page, "river-390")   # build/screenshots/river-390.png

The browser is /usr/bin/chromium from Debian (`apt-get install -y chromium`,
which .ci/run does in CI), never one downloaded by Playwright. axe-core comes
bundled in axe-playwright-python, so nothing here needs the network. Nothing
here waits on a clock: Playwright waits for the page's load event, and its
timeouts only end a hang.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from weakref import WeakKeyDictionary

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = (
    f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
    "(see README, 'Browser tests')"
)
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
WIDTHS = (1280, 390)  # a laptop and a phone
NARROWEST = 320  # the width WCAG's reflow criterion asks pages to fit without sideways scrolling
HEIGHT = 800
HANG_MS = 30_000  # Playwright's own deadline for one navigation or action: catches hangs only
PWNED_FLAG = "__voice_pwned"  # hostile test content sets window.__voice_pwned if it ever runs

# The dialogs (alert, confirm, prompt) each open page showed, recorded from before navigation.
_dialogs: WeakKeyDictionary[Page, list[str]] = WeakKeyDictionary()


class Visit(NamedTuple):
    """A page opened in its own browser context, and the HTTP status it came with."""

    page: Page
    status: int


def chromium_or_skip() -> None:
    """Skip the calling test, saying how to install what is missing, unless the browser can run."""
    if not CHROMIUM.is_file():
        pytest.skip(INSTALL_HINT)
    try:
        import axe_playwright_python.sync_playwright  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        pytest.skip(
            f"{exc.name} is not installed: install the test extras, pip install -e '.[test]'"
        )


@contextmanager
def launch_browser() -> Iterator[Browser]:
    """Headless Debian Chromium; closed, with Playwright, at exit.

    Keep it open for a test module, not the session: while open, Playwright's
    sync API keeps an event loop running on the main thread, so asyncio.run()
    anywhere else fails. Playwright passes --no-sandbox by default, which
    Chromium needs when run as root (CI).
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, timeout=HANG_MS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser: Browser, url: str, width: int) -> Iterator[Visit]:
    """`url` loaded in a fresh context `width` CSS pixels wide, dialogs recorded and dismissed."""
    context = browser.new_context(viewport={"width": width, "height": HEIGHT})
    context.set_default_timeout(HANG_MS)
    try:
        page = context.new_page()
        shown: list[str] = []
        _dialogs[page] = shown

        def record(dialog: Dialog) -> None:
            shown.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", record)
        response = page.goto(url, wait_until="load")
        if response is None:
            raise AssertionError(f"{url}: no response (navigated within the page?)")
        yield Visit(page, response.status)
    finally:
        context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core finds wrong with the page: rule id, impact, the nodes' targets, summary."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [node["target"] for node in v["nodes"]],
            "summary": [node.get("failureSummary", "") for node in v["nodes"]],
        }
        for v in results.response["violations"]
    ]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violation, for an assertion message."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for target, summary in zip(v["targets"], v["summary"], strict=True):
            first = summary.splitlines()[1:2] if summary else []
            lines.append(f"    {target}: {' '.join(s.strip() for s in first)}")
    return "\n".join(lines)


def has_horizontal_scroll(page: Page) -> bool:
    """True when the page is wider than the window, so a reader must scroll sideways."""
    return bool(
        page.evaluate(
            "() => document.scrollingElement.scrollWidth > document.scrollingElement.clientWidth"
        )
    )


def focus_after_tab(page: Page) -> dict[str, str]:
    """Press Tab once; the focused element and the styles that could show its focus."""
    page.keyboard.press("Tab")
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {
                element: el === document.body ? "body" : el.outerHTML.slice(0, 120),
                outlineStyle: style.outlineStyle,
                outlineWidth: style.outlineWidth,
                boxShadow: style.boxShadow,
            };
        }"""
    )


def focus_is_visible(focus: dict[str, str]) -> bool:
    """An outline that draws something, or a box shadow, on an element other than the body."""
    outline = focus["outlineStyle"] != "none" and focus["outlineWidth"] != "0px"
    return focus["element"] != "body" and (outline or focus["boxShadow"] != "none")


def save_screenshot(page: Page, name: str) -> Path:
    """A full-page PNG at build/screenshots/<name>.png, e.g. river-390.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def no_script_ran(page: Page) -> None:
    """Fail unless the page ran none of its hostile content's script.

    Evidence is window.__voice_pwned being defined or any dialog (alert,
    confirm, prompt) opened since open_page began loading the page.
    """
    flag = page.evaluate(f"() => typeof window.{PWNED_FLAG}")
    ran = list(_dialogs.get(page, []))
    if flag != "undefined":
        ran.append(f"window.{PWNED_FLAG} is {flag}")
    if ran:
        raise AssertionError(f"{page.url} ran script: " + "; ".join(ran))
