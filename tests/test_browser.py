"""Every page people read, in headless Chromium: accessible, focus visible, fits a phone.

The demo database (the bundled demo feeds, fetched once offline) is served by
a real Datasette process started with Voice's own command, and each page in
PAGES is opened at each width in WIDTHS. For each: HTTP 200, no axe-core
violations, a visible focus indicator after one Tab, no sideways scroll at
320 px, and a full-page screenshot in build/screenshots/<page-type>-<width>.png.

Needs /usr/bin/chromium (`apt-get install -y chromium`); without it every
test here skips with that command. See README, "Browser tests".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from aggregator.releasing import make_release
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
    no_script_ran,
    open_page,
    save_screenshot,
)
from tests.support.feedserver import FeedServer
from tests.support.live import build_demo_db, live_datasette, run_voice

from .conftest import DATA, rows, write_registry

if TYPE_CHECKING:  # Playwright may be missing: then the tests skip, saying so
    from playwright.sync_api import Browser


class PageCase(NamedTuple):
    """One type of page: its name in screenshots and test ids, and a path on the demo site."""

    page_type: str
    path: str


# One line per type of page. The reader pages (/, /topics/<slug>, /regions/<slug>,
# /blogs, /blogs/<slug>, /posts/<id>, /search?q=...) are added here as they arrive.
PAGES = [
    PageCase("database", "/voice"),  # "data for researchers"
    PageCase("table", "/voice/posts"),
    PageCase("row", "/voice/posts/1"),
    PageCase("river", "/voice/river"),
    PageCase("feeds", "/voice/feeds"),
    PageCase("query", "/voice?sql=select+1"),
    # The reader pages (plugins/voice_pages.py) on the demo database.
    PageCase("front-page", "/"),
    PageCase("front-page-older", "/?before=5"),
    PageCase("topics", "/topics"),
    PageCase("topic", "/topics/open-standards"),
    PageCase("regions", "/regions"),
    PageCase("region", "/regions/south-east"),
    PageCase("blogs", "/blogs"),
    PageCase("blog", "/blogs/phil-rumens"),
    PageCase("post", "/posts/{post}"),  # the newest public post
    PageCase("search", "/search?q=digital"),
    PageCase("search-no-results", "/search?q=zzzzqqq"),
    PageCase("join", "/join"),
    PageCase("research", "/research"),  # with one release of the demo database
]
HOSTILE_FEEDS = ("/active-content.rss", "/active-content.atom")


class LiveSite(NamedTuple):
    """A database and the Datasette serving it."""

    base: str
    db: Path


def cases() -> list[pytest.ParameterSet]:
    return [pytest.param(case, id=case.page_type) for case in PAGES]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for this module, closed before the next module's tests.

    Not for the session: while Playwright's sync API is open it keeps an event
    loop running on the main thread, and every asyncio.run() in later test
    modules would fail ("cannot be called from a running event loop").
    """
    chromium_or_skip()
    with launch_browser() as b:
        yield b


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """Datasette serving the demo database, built once per session."""
    chromium_or_skip()  # before spending seconds on a database no test would open
    folder = tmp_path_factory.mktemp("demo")
    db = build_demo_db(folder / "voice.db")
    make_release(db, clock=lambda: datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    with live_datasette(db, log=folder / "datasette.log") as base:
        yield LiveSite(base, db)


def page_url(site: LiveSite, case: PageCase) -> str:
    """The case's address on the site; `{post}` is its newest public post (ids vary by run)."""
    if "{post}" not in case.path:
        return site.base + case.path
    with closing(sqlite3.connect(site.db)) as conn:
        (post,) = conn.execute(
            "SELECT max(id) FROM posts"
            " WHERE hidden = 0 AND duplicate_of IS NULL AND removed_at IS NULL"
        ).fetchone()
    return site.base + case.path.format(post=post)


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """Datasette serving the posts of tests/data/hostile's active-content feeds."""
    chromium_or_skip()
    folder = tmp_path_factory.mktemp("hostile")
    db = folder / "voice.db"
    with FeedServer(DATA / "hostile") as server:
        config = write_registry(folder / "feeds.yaml", *(server.url(p) for p in HOSTILE_FEEDS))
        run_voice("fetch", "--config", config, "--db", db, "--allow-private-hosts")
    with live_datasette(db, log=folder / "datasette.log") as base:
        yield LiveSite(base, db)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", cases())
def test_page_has_no_axe_violations(
    browser: Browser, demo_site: LiveSite, case: PageCase, width: int
) -> None:
    with open_page(browser, page_url(demo_site, case), width) as visit:
        assert visit.status == 200
        save_screenshot(visit.page, f"{case.page_type}-{width}")
        violations = axe_violations(visit.page)
    assert not violations, f"{case.path} at {width}px:\n{describe_violations(violations)}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", cases())
def test_keyboard_focus_is_visible(
    browser: Browser, demo_site: LiveSite, case: PageCase, width: int
) -> None:
    with open_page(browser, page_url(demo_site, case), width) as visit:
        focus = focus_after_tab(visit.page)
    assert focus_is_visible(focus), f"{case.path} at {width}px, after Tab: {focus}"


@pytest.mark.parametrize("case", cases())
def test_page_fits_the_narrowest_screen(
    browser: Browser, demo_site: LiveSite, case: PageCase
) -> None:
    with open_page(browser, page_url(demo_site, case), NARROWEST) as visit:
        assert visit.status == 200
        wide = has_horizontal_scroll(visit.page)
        if wide:
            save_screenshot(visit.page, f"{case.page_type}-{NARROWEST}")
    assert not wide, f"{case.path} scrolls sideways at {NARROWEST}px"


def test_hostile_posts_run_no_script(browser: Browser, hostile_site: LiveSite) -> None:
    post_ids = [post_id for (post_id,) in rows(hostile_site.db, "SELECT id FROM posts")]
    assert post_ids, "the hostile feeds gave no posts"
    for path in ["/voice/posts"] + [f"/voice/posts/{i}" for i in post_ids]:
        with open_page(browser, hostile_site.base + path, WIDTHS[0]) as visit:
            assert visit.status == 200, path
            no_script_ran(visit.page)


def test_hostile_posts_run_no_script_on_reader_pages_or_feeds(
    browser: Browser, hostile_site: LiveSite
) -> None:
    """Every reader page type and feed format that shows the hostile posts, in Chromium."""
    public = "hidden = 0 AND duplicate_of IS NULL AND removed_at IS NULL"
    post_ids = [i for (i,) in rows(hostile_site.db, f"SELECT id FROM posts WHERE {public}")]
    blogs = [s for (s,) in rows(hostile_site.db, "SELECT slug FROM feeds WHERE slug IS NOT NULL")]
    regions = {r for (r,) in rows(hostile_site.db, "SELECT region FROM feeds")}
    assert post_ids and blogs, "the hostile feeds gave no public posts"
    paths = ["/", "/topics", "/regions", "/blogs", "/blogs.opml", "/feed.atom", "/feed.json"]
    paths += [f"/posts/{i}" for i in post_ids]
    paths += [f"/blogs/{b}{suffix}" for b in blogs for suffix in ("", ".atom", ".json")]
    paths += [f"/regions/{'-'.join(r.lower().split())}" for r in regions]
    paths += [f"/search?q={w}" for w in ("alert", "script", "javascript", "onerror")]
    for path in paths:
        with open_page(browser, hostile_site.base + path, WIDTHS[0]) as visit:
            assert visit.status == 200, path
            no_script_ran(visit.page)
            hrefs = visit.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        active = [h for h in hrefs if h.lower().startswith(("javascript:", "data:"))]
        assert not active, f"{path}: clickable {active}"
