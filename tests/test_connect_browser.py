"""Connect your blog in headless Chromium: the whole journey, and each page checked by axe.

A member fills the form with their blog's home page address (served on
127.0.0.1, so the instance allows private hosts), checks it, sends it, opens
their status link; a moderator approves it with `voice submissions approve`;
the status page says so; `voice fetch` reads the blog and its posts are on
the front page. The form, its error state, the sent page and the status page
have no axe-core violations at 1280 and 390 px, show focus and fit 320 px.
Screenshots go to build/screenshots/connect-*.png.

Needs /usr/bin/chromium (`apt-get install -y chromium`); without it every
test here skips with that command. See README, "Browser tests".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import (
    NARROWEST,
    WIDTHS,
    axe_violations,
    chromium_or_skip,
    describe_violations,
    focus_after_tab,
    focus_is_visible,
    has_horizontal_scroll,
    launch_browser,
    open_page,
    save_screenshot,
)
from tests.support.live import run_voice

from .test_connect_http import (
    Site,
    answers,
    approve,
    blog_server,
    connect_site,
    join_id,
    submit_by_cli,
)

if TYPE_CHECKING:  # Playwright may be missing: then the tests skip, saying so
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for this module (see tests/test_browser.py for why not more)."""
    chromium_or_skip()
    with launch_browser() as b:
        yield b


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    chromium_or_skip()  # before starting servers no test would use
    with connect_site(tmp_path_factory.mktemp("connect"), allow_private_hosts=True) as s:
        yield s


@pytest.fixture(scope="module")
def approved_member(site: Site) -> Iterator[str]:
    """The status path of another member, whose blog a moderator approved and Voice read."""
    with blog_server() as other:
        token = submit_by_cli(site, other.url("/"))["token"]
        approve(site, join_id(site))
        run_voice("fetch", "--config", site.config, "--db", site.db, "--allow-private-hosts")
        yield f"/connect/status/{token}"


def check_accessible(page: Page, name: str, width: int) -> None:
    save_screenshot(page, f"{name}-{width}")
    violations = axe_violations(page)
    assert not violations, f"{name} at {width}px:\n{describe_violations(violations)}"


def submit(page: Page, button: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def fill_form(page: Page, url: str) -> None:
    given = answers(url)
    page.get_by_label("Your blog's address").fill(given["url"])
    page.get_by_label("Region").select_option(given["region"])
    page.get_by_label("Council or organisation").fill(given["organisation"])
    page.get_by_label("Your name").fill(given["name"])
    page.get_by_label("Email address (optional)").fill(given["email"])
    page.get_by_label("Open data").check()
    page.get_by_label("Excerpts only").check()


def test_a_member_connects_a_blog_from_its_home_page(browser: Browser, site: Site) -> None:
    home = site.blog.url("/")
    width = WIDTHS[0]
    with open_page(browser, site.base + "/connect", width) as visit:
        page = visit.page
        assert visit.status == 200
        check_accessible(page, "connect-form", width)
        fill_form(page, home)
        submit(page, "Check my blog")
        preview = page.locator("section.voice-panel")
        assert "Notes from the Digital Team" in preview.inner_text()
        assert "The page advertises it as the blog's feed." in preview.inner_text()
        check_accessible(page, "connect-preview", width)
        assert page.get_by_label("Excerpts only").is_checked(), "the answers are kept"
        submit(page, "Send to Voice")
        assert "Your blog has been sent" in page.locator("h1").inner_text()
        check_accessible(page, "connect-sent", width)
        link = page.locator(".voice-status-link a").get_attribute("href")
        assert link and "/connect/status/" in link
        page.goto(link)
        assert "waiting for a moderator" in page.locator(".voice-panel h2").inner_text()
        check_accessible(page, "connect-status-pending", width)

        approve(site, join_id(site))
        page.reload()
        assert "Status: accepted" in page.locator(".voice-panel h2").inner_text()
        run_voice("fetch", "--config", site.config, "--db", site.db, "--allow-private-hosts")
        page.reload()
        assert "Working: Voice reads" in page.locator("main").inner_text()
        check_accessible(page, "connect-status-approved", width)

        page.goto(site.base + "/")
        river = page.locator("main").inner_text()
        assert "Weeknote: retiring the paper bin permit form" in river
        assert "Notes from the Digital Team" in river
        save_screenshot(page, f"connect-river-{width}")


def pages(site: Site, member: str) -> list[tuple[str, str]]:
    return [("connect-form", "/connect"), ("connect-status", member)]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_form_and_status_page_have_no_axe_violations(
    browser: Browser, site: Site, approved_member: str, width: int
) -> None:
    for name, path in pages(site, approved_member):
        with open_page(browser, site.base + path, width) as visit:
            assert visit.status == 200, path
            check_accessible(visit.page, name, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_forms_errors_have_no_axe_violations(browser: Browser, site: Site, width: int) -> None:
    with open_page(browser, site.base + "/connect", width) as visit:
        page = visit.page
        page.get_by_label("Your blog's address").fill("ftp://nowhere")
        submit(page, "Check my blog")
        assert page.locator(".error-summary").is_visible()
        page.locator(".error-summary a").first.click()
        focused = page.evaluate("() => document.activeElement.id")
        assert focused == "url", "the summary's link moves to the field"
        check_accessible(page, "connect-errors", width)


@pytest.mark.parametrize("width", WIDTHS)
def test_keyboard_focus_is_visible(
    browser: Browser, site: Site, approved_member: str, width: int
) -> None:
    for _, path in pages(site, approved_member):
        with open_page(browser, site.base + path, width) as visit:
            focus = focus_after_tab(visit.page)
        assert focus_is_visible(focus), f"{path} at {width}px, after Tab: {focus}"


def test_the_pages_fit_the_narrowest_screen(
    browser: Browser, site: Site, approved_member: str
) -> None:
    for name, path in pages(site, approved_member):
        with open_page(browser, site.base + path, NARROWEST) as visit:
            wide = has_horizontal_scroll(visit.page)
            if wide:
                save_screenshot(visit.page, f"{name}-{NARROWEST}")
        assert not wide, f"{path} scrolls sideways at {NARROWEST}px"
