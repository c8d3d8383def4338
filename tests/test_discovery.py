"""Finding a blog's feed from its address: real-shaped pages served on 127.0.0.1.

Each case is a small site (paths -> fixture files in tests/data/discovery/ or
server behaviours) and what a newcomer should be told: the feed chosen and
why, or the problem in plain English. Sites whose platform is known by host
name (blog.gov.uk, Substack) are served under that name through a transport
that sends every request to the local server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from aggregator.joining.discovery import conventional_feeds, detect_platform, read_page
from aggregator.joining.trial import Trial, run_trial
from aggregator.models import Registry, Settings
from aggregator.registry.topics import load_topics
from tests.support.feedserver import CONTENT_TYPES, Behaviour, FeedServer, Raw, Status

from .conftest import DATA, ROOT

PAGES = DATA / "discovery"
SETTINGS = Settings(allow_private_hosts=True, fetch_deadline=5.0, read_timeout=2.0)
REGISTRY = Registry(settings=SETTINGS, feeds=())


# -- pure: platforms and their usual feed addresses ----------------------------------


@pytest.mark.parametrize(
    ("url", "generator", "platform", "feed"),
    [
        ("https://notes.example.gov.uk/", "WordPress 6.4.3", "WordPress", "/feed/"),
        (
            "https://philsdigital.blogspot.com/2016/11/x.html",
            None,
            "Blogger",
            "https://philsdigital.blogspot.com/feeds/posts/default",
        ),
        ("https://blog.example.org/", "Blogger", "Blogger", "/feeds/posts/default"),
        (
            "https://medium.com/@philrumens/why-we-stopped-123",
            None,
            "Medium",
            "https://medium.com/feed/@philrumens",
        ),
        (
            "https://medium.com/digital-at-the-borough",
            None,
            "Medium",
            "https://medium.com/feed/digital-at-the-borough",
        ),
        ("https://borough.medium.com/", None, "Medium", "https://borough.medium.com/feed"),
        ("https://service.example.org/", "Ghost 5.82", "Ghost", "/rss/"),
        (
            "https://localdigital.substack.com/p/issue-4",
            None,
            "Substack",
            "https://localdigital.substack.com/feed",
        ),
        (
            "https://digital.blog.gov.uk/2024/01/02/a-post/",
            "WordPress 6.4",
            "blog.gov.uk",
            "https://digital.blog.gov.uk/feed/",
        ),
        ("https://www.example.org/", None, None, "/feed/"),
    ],
)
def test_platform_and_its_usual_feed_address(
    url: str, generator: str | None, platform: str | None, feed: str
) -> None:
    assert detect_platform(url, generator) == platform
    assert conventional_feeds(url, platform)[0].url.endswith(feed)


def test_a_page_lists_its_feeds_resolved_with_what_each_one_is() -> None:
    html = (PAGES / "wordpress-post.html").read_text().replace("{base}", "https://notes.example")
    page = read_page(html, "https://notes.example/2016/")
    assert page.platform == "WordPress"
    roles = {c.url.removeprefix("https://notes.example"): c.role for c in page.advertised}
    assert roles == {
        "/feed/": "main",
        "/comments/feed/": "comments",
        "/2016/11/21/localgov-digital-rebooted/feed/": "comments",  # the post's comments
    }
    relative = read_page((PAGES / "wordpress-category.html").read_bytes(), "https://n.example/c/")
    assert [(c.url, c.role) for c in relative.advertised] == [
        ("https://n.example/feed/", "main"),
        ("https://n.example/category/housing/feed/", "category"),
    ]


def test_a_hostile_page_gives_at_most_fifty_feeds_and_no_unusable_addresses() -> None:
    links = "".join(
        f'<link rel="alternate" type="application/rss+xml" href="/f{i}.rss">' for i in range(500)
    )
    odd = '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
    page = read_page(f"<html><head>{odd}{links}</head></html>", "https://x.example/")
    assert len(page.advertised) <= 50
    assert all(c.url.startswith("https://x.example/f") for c in page.advertised)


# -- served: the table of sites ---------------------------------------------------------


@dataclass(frozen=True)
class Case:
    start: str  # the path a newcomer types
    site: dict[str, str | Behaviour]  # path -> fixture file, or a server behaviour
    feed: str | None  # path of the feed that should be chosen
    says: str  # in chosen_because when a feed is chosen, else in the problem
    platform: str | None = None
    full_text: bool | None = None
    host: str | None = None  # serve under this host name
    never_fetched: tuple[str, ...] = ()
    topics: tuple[str, ...] = field(default=())


CASES = {
    "wordpress home page": Case(
        "/",
        {"/": "wordpress.html", "/feed/": "full.rss", "/comments/feed/": "comments.rss"},
        "/feed/",
        "advertises it as the blog's feed, leaving aside the comments feed",
        "WordPress",
        True,
        never_fetched=("/comments/feed/",),
    ),
    "a post's page": Case(
        "/2016/11/21/localgov-digital-rebooted/",
        {
            "/2016/11/21/localgov-digital-rebooted/": "wordpress-post.html",
            "/feed/": "full.rss",
            "/2016/11/21/localgov-digital-rebooted/feed/": "comments.rss",
        },
        "/feed/",
        "advertises it as the blog's feed",
        "WordPress",
        True,
        never_fetched=("/2016/11/21/localgov-digital-rebooted/feed/", "/comments/feed/"),
    ),
    "blogger, Atom and RSS of the same blog": Case(
        "/",
        {"/": "blogger.html", "/feeds/posts/default": "blogger.atom"},
        "/feeds/posts/default",
        "advertises it as the blog's feed",
        "Blogger",
        True,
    ),
    "medium on its own domain, no feed advertised": Case(
        "/",
        {"/": "medium.html", "/feed": "full.rss"},
        "/feed",
        "advertises no feed, and this is where Medium blogs serve theirs",
        "Medium",
    ),
    "ghost, no feed advertised": Case(
        "/",
        {"/": "ghost.html", "/rss/": "blogger.atom"},
        "/rss/",
        "this is where Ghost blogs serve theirs",
        "Ghost",
    ),
    "substack": Case(
        "/",
        {"/": "substack.html", "/feed": "full.rss"},
        "/feed",
        "advertises it as the blog's feed",
        "Substack",
        host="localdigital.substack.com",
    ),
    "blog.gov.uk": Case(
        "/",
        {"/": "bloggovuk.html", "/feed/": "full.rss"},
        "/feed/",
        "advertises it as the blog's feed",
        "blog.gov.uk",
        host="digital.blog.gov.uk",
    ),
    "main feed and a category feed": Case(
        "/category/housing/",
        {
            "/category/housing/": "wordpress-category.html",
            "/feed/": "full.rss",
            "/category/housing/feed/": "full.rss",
        },
        "/feed/",
        "advertises it as the blog's feed",
        "WordPress",
        never_fetched=("/category/housing/feed/",),
    ),
    "full text beats excerpts": Case(
        "/",
        {"/": "two-feeds.html", "/summaries.rss": "excerpt.rss", "/full.atom": "full.rss"},
        "/full.atom",
        "this one carries full text where the other has only excerpts",
        full_text=True,
    ),
    "only excerpts": Case(
        "/",
        {"/": "broken.html", "/feed.xml": "excerpt.rss"},
        "/feed.xml",
        "advertises it as the blog's feed",
        full_text=False,
    ),
    "only a comments feed": Case(
        "/",
        {"/": "comments-only.html", "/comments/feed/": "comments.rss"},
        None,
        "advertises only a comments feed",
        never_fetched=("/comments/feed/",),
    ),
    "no feed at all": Case(
        "/",
        {"/": "no-feed.html"},
        None,
        "That page is a web page with no feed advertised, and none of the usual feed "
        "addresses answered with a feed.",
    ),
    "advertised feed answers 404": Case(
        "/",
        {"/": "broken.html"},
        None,
        "The feed it advertises (http://{host}/feed.xml) answered 404 Not Found.",
    ),
    "advertised feed is a web page, the platform's usual one works": Case(
        "/",
        {"/": "wordpress-not-a-feed.html", "/atom.xml": "no-feed.html", "/feed/": "full.rss"},
        "/feed/",
        "The feed the page advertises did not work, and this is where WordPress "
        "blogs serve theirs.",
        "WordPress",
    ),
    "only a JSON Feed": Case(
        "/",
        {"/": "json-only.html", "/feed.json": "feed.json"},
        None,
        "advertises only a JSON Feed (http://{host}/feed.json), which Voice cannot read",
        never_fetched=("/feed.json",),
    ),
    "the address is the feed": Case(
        "/feed/",
        {"/feed/": "full.rss"},
        "/feed/",
        "The address you gave is itself a feed.",
        "WordPress",
        True,
    ),
    "the address is a comments feed": Case(
        "/2016/11/21/localgov-digital-rebooted/feed/",
        {"/2016/11/21/localgov-digital-rebooted/feed/": "comments.rss"},
        None,
        "That address is a comments feed: it carries readers' comments, not the blog's posts.",
    ),
    "the address is a JSON Feed": Case(
        "/feed.json",
        {"/feed.json": "feed.json"},
        None,
        "That address is a JSON Feed, which Voice cannot read yet.",
    ),
    "the address answers 500": Case(
        "/",
        {"/": Status(500)},
        None,
        "That address answered 500 Internal Server Error.",
    ),
}


class HostTransport(httpx.AsyncHTTPTransport):
    """Sends every request to the local server, keeping the host name it was for."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        local = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        sent = httpx.Request(request.method, local, headers=request.headers)
        return await super().handle_async_request(sent)


def _serve(server: FeedServer, site: dict[str, str | Behaviour], base: str) -> None:
    for path, what in site.items():
        if not isinstance(what, str):
            server.route(path, what)
            continue
        file = PAGES / what
        body = file.read_bytes().replace(b"{base}", base.encode())
        server.route(path, Raw(body, {"Content-Type": CONTENT_TYPES[file.suffix]}))


@pytest.fixture
def site_server(tmp_path: Path) -> Iterator[FeedServer]:
    with FeedServer(tmp_path) as server:
        yield server


def _try(server: FeedServer, case: Case) -> Trial:
    if case.host:
        base, transport = f"http://{case.host}", HostTransport(server.port)
    else:
        base, transport = server.base_url, None
    _serve(server, case.site, base)
    return run_trial(
        base + case.start, REGISTRY, None, allow_private_hosts=True, transport=transport
    )


@pytest.mark.parametrize("name", list(CASES))
def test_discovery_chooses_the_blogs_main_feed_or_says_why_not(
    name: str, site_server: FeedServer
) -> None:
    case = CASES[name]
    trial = _try(site_server, case)
    host = case.host or f"127.0.0.1:{site_server.port}"
    says = case.says.replace("{host}", host)
    if case.feed is None:
        assert not trial.ok and trial.feed_url is None
        assert trial.problem and says in trial.problem, trial.problem
        assert trial.advice
    else:
        assert trial.ok, trial.problem
        assert trial.feed_url == f"http://{host}{case.feed}"
        assert says in trial.chosen_because, trial.chosen_because
        assert trial.entries > 0 and len(trial.latest) <= 3
    if case.platform:
        assert trial.platform == case.platform
    if case.full_text is not None:
        assert trial.full_text is case.full_text
    requested = [r.path for r in site_server.requests]
    for path in case.never_fetched:
        assert path not in requested
    assert len(requested) <= 4  # the page and at most three candidate feeds


def test_the_preview_has_the_latest_posts_and_their_topics(site_server: FeedServer) -> None:
    _serve(site_server, {"/": "wordpress.html", "/feed/": "full.rss"}, site_server.base_url)
    vocabulary = load_topics(ROOT / "topics.yaml")
    trial = run_trial(site_server.url("/"), REGISTRY, vocabulary, allow_private_hosts=True)
    assert trial.title == "Council Digital Notes"
    assert trial.site_url == "https://notes.example.gov.uk/"
    assert trial.entries == 4
    assert trial.latest == (
        ("LocalGov Digital rebooted", "2016-11-21T09:00:00Z"),
        ("Publishing our spending data every month", "2016-10-03T09:00:00Z"),
        ("What we learned from our first user research round", "2016-09-12T09:00:00Z"),
    )
    assert {"service-standard", "open-data", "user-research"} <= set(trial.topics)
    notes = dict(trial.candidates)
    assert notes[site_server.url("/feed/")].endswith(": chosen")
    assert "comments" in notes[site_server.url("/comments/feed/")]
    json = trial.to_json()
    assert json["ok"] is True and json["latest"][0]["title"] == "LocalGov Digital rebooted"


@pytest.mark.parametrize("path", ["/", "/feed/"])
def test_with_the_guard_on_a_local_address_gets_a_plain_message_and_no_request(
    path: str, site_server: FeedServer
) -> None:
    _serve(site_server, {"/": "wordpress.html", "/feed/": "full.rss"}, site_server.base_url)
    trial = run_trial(site_server.url(path), REGISTRY, None, allow_private_hosts=False)
    assert trial.problem == (
        "That address is on a private network (127.0.0.1); Voice only fetches public web addresses."
    )
    assert not trial.ok and site_server.requests == []
