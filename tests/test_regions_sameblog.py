"""Region names as members type them, and one blog under its many addresses."""

from __future__ import annotations

import pytest

from aggregator.models import REGIONS, FeedSource, Registry, Settings
from aggregator.registry.regions import match_region
from aggregator.registry.sameblog import blog_key, find_registered


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("South East", ("South East", None), id="canonical"),
        pytest.param("south east", ("South East", None), id="lower-case"),
        pytest.param("  SOUTH \t east ", ("South East", None), id="spaces"),
        pytest.param("yorkshire & the humber", ("Yorkshire and the Humber", None), id="ampersand"),
        pytest.param("Sout East", (None, "South East"), id="letter-missing"),
        pytest.param("Londn", (None, "London"), id="short-name"),
        pytest.param("Walse", (None, "Wales"), id="swapped-letters"),
        pytest.param("Devon", (None, None), id="a-county"),
        pytest.param("East Anglia", (None, None), id="an-old-name"),
        pytest.param("", (None, None), id="empty"),
    ],
)
def test_match_region(text: str, expected: tuple[str | None, str | None]) -> None:
    assert match_region(text) == expected


def test_every_region_matches_itself_in_lower_case() -> None:
    assert all(match_region(name.lower()) == (name, None) for name in REGIONS)


@pytest.mark.parametrize(
    ("url", "key"),
    [
        pytest.param("https://example.org/", "example.org", id="home"),
        pytest.param("http://www.Example.ORG", "example.org", id="www-scheme-case"),
        pytest.param("https://example.org:443/blog/", "example.org/blog", id="default-port"),
        pytest.param("http://example.org:8080/", "example.org:8080", id="other-port-kept"),
        pytest.param("https://example.org/feed/", "example.org", id="wordpress"),
        pytest.param("https://example.org/blog/feed/atom/", "example.org/blog", id="wp-atom"),
        pytest.param("https://example.org/?feed=rss2", "example.org", id="wp-query"),
        pytest.param(
            "https://x.blogspot.com/feeds/posts/default?alt=rss", "x.blogspot.com", id="blogger"
        ),
        pytest.param("https://medium.com/feed/@ann", "medium.com/@ann", id="medium-feed"),
        pytest.param("https://medium.com/@ann/", "medium.com/@ann", id="medium-home"),
        pytest.param("https://ghost.example/rss/", "ghost.example", id="ghost"),
        pytest.param("https://ann.substack.com/feed", "ann.substack.com", id="substack"),
        pytest.param("https://digital.blog.gov.uk/feed/", "digital.blog.gov.uk", id="blog-gov-uk"),
        pytest.param("https://example.org/atom.xml", "example.org", id="atom-xml"),
        pytest.param("https://example.org/posts/index.xml", "example.org/posts", id="hugo"),
        pytest.param("https://example.org/Blog/", "example.org/Blog", id="path-case-kept"),
        pytest.param("https://example.org/news?page=2", "example.org/news?page=2", id="query-kept"),
        pytest.param("not a url [", "not a url [", id="invalid"),
    ],
)
def test_blog_key(url: str, key: str) -> None:
    assert blog_key(url) == key


def _registry(*feeds: tuple[str, str | None]) -> Registry:
    sources = tuple(FeedSource(url=u, region="London", site_url=s) for u, s in feeds)
    return Registry(settings=Settings(), feeds=sources)


REGISTRY = _registry(
    ("https://a.example/feed/", None),
    ("https://feeds.feedburner.com/bravo", "https://bravo.example/"),
    ("https://c.example/news/rss.xml", None),
)


@pytest.mark.parametrize(
    ("urls", "redirects", "found"),
    [
        pytest.param(("https://a.example/feed/",), {}, 0, id="same-feed"),
        pytest.param(("http://www.a.example",), {}, 0, id="home-page-of-the-feed"),
        pytest.param(("https://bravo.example/feed/",), {}, 1, id="by-site-url"),
        pytest.param(("https://nobody.example/", "https://c.example/news/"), {}, 2, id="any-url"),
        pytest.param(("https://c.example/",), {}, None, id="another-blog-on-the-host"),
        pytest.param(
            ("https://new-a.example/",),
            {"https://a.example/": "https://new-a.example/"},
            0,
            id="registered-address-moved",
        ),
        pytest.param(
            ("https://old-a.example/feed",),
            {"https://old-a.example/": "https://a.example/"},
            0,
            id="offered-address-moved",
        ),
        pytest.param(
            ("https://x.example/",),
            {
                "https://x.example/": "https://y.example/",
                "https://y.example/": "https://a.example/",
            },
            0,
            id="chain-of-redirects",
        ),
        pytest.param(
            ("https://d.example/",),
            {"https://e.example/": "https://a.example/"},
            None,
            id="unrelated-redirect",
        ),
        pytest.param((), {}, None, id="no-urls"),
    ],
)
def test_find_registered(
    urls: tuple[str, ...], redirects: dict[str, str], found: int | None
) -> None:
    expected = None if found is None else REGISTRY.feeds[found]
    assert find_registered(REGISTRY, *urls, redirects=redirects) == expected
