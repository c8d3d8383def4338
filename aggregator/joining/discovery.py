"""Find a blog's feed from one of its web pages; pure, no I/O.

Given the HTML of a page and its URL, `read_page` collects what the page
says about itself: the feeds it advertises (`<link rel="alternate">`), its
platform (generator, host name, tell-tale paths) and its title.
`plan_candidates` then orders the addresses worth fetching:

1. the feeds the page advertises as the blog's own (RSS and Atom),
2. the conventional feed address of its platform (or of common blog software
   when the platform is unknown),
3. a category or tag feed, as a last resort: some of the blog is better than
   none.

Comments feeds are never chosen (they carry readers' comments, not posts), and
JSON Feeds are noted but not fetched: Voice reads RSS and Atom only. Each
candidate carries a one-sentence note, so the choice can be explained. Which
of two working feeds of the same blog wins (full text over excerpts) is
decided after fetching them, in `trial`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit

FEED_TYPES = {
    "application/atom+xml": "Atom",
    "application/rss+xml": "RSS",
    "application/rdf+xml": "RSS",
    "application/feed+json": "JSON Feed",
    "application/json": "JSON Feed",
}
READABLE = frozenset({"Atom", "RSS"})
MAX_LINKS = 50  # advertised feeds considered per page; a real page has a handful
# Characters of a page read in-process (html.parser has no resource limits of
# its own): feed links and generators live in <head>, near the top.
MAX_PAGE_CHARS = 500_000

# Paths common blog software serves its feed at, tried when the platform is unknown.
GENERIC_PATHS = ("/feed/", "/feed.xml", "/rss.xml")

_COMMENTS_TITLE = re.compile(r"\bcomments?\b", re.IGNORECASE)
_COMMENTS_PATH = re.compile(r"/comments?(?:/|\.|$)|[?&]comments?=", re.IGNORECASE)
_CATEGORY = re.compile(r"/(?:category|categories|tag|tags|label|labels|topics?|-)/", re.I)


@dataclass(frozen=True)
class Candidate:
    """One feed address worth considering, and what it is."""

    url: str
    source: str  # "advertised" (by the page) or "conventional" (the platform's usual path)
    format: str | None  # "Atom", "RSS", "JSON Feed", or None when only guessed
    role: str  # "main", "comments" or "category"
    note: str  # one plain sentence about this address


@dataclass(frozen=True)
class PageData:
    """What one fetched web page says about its blog."""

    url: str
    title: str | None
    platform: str | None
    advertised: tuple[Candidate, ...]


class _PageParser(HTMLParser):
    """Collects <link rel=alternate>, generator meta, <title> and platform hints."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, str | None]] = []  # (href, type, title)
        self.generator: str | None = None
        self.site_name: str | None = None
        self.title_parts: list[str] = []
        self.hints: set[str] = set()
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        for value in (a.get("href", ""), a.get("src", ""), a.get("content", "")):
            self._hint(value)
        if tag == "link":
            rels = a.get("rel", "").lower().split()
            kind = a.get("type", "").lower().split(";")[0].strip()
            href = a.get("href", "").strip()
            if "alternate" in rels and kind in FEED_TYPES and href and len(self.links) < MAX_LINKS:
                self.links.append((a["href"].strip(), kind, a.get("title") or None))
        elif tag == "meta":
            name = (a.get("name") or a.get("property") or "").lower()
            if name == "generator" and self.generator is None:
                self.generator = a.get("content", "").strip()[:200] or None
            elif name == "og:site_name" and self.site_name is None:
                self.site_name = a.get("content", "").strip()[:300] or None
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and sum(map(len, self.title_parts)) < 300:
            self.title_parts.append(data)

    def _hint(self, value: str) -> None:
        value = value.lower()
        for mark in (
            "wp-content/",
            "wp-includes/",
            "substackcdn.com",
            "cdn-client.medium.com",
            "blogger.com/",
            "blogblog.com",
            "ghost.io",
            "/ghost/",
        ):
            if mark in value:
                self.hints.add(mark)


def read_page(html: str | bytes, url: str) -> PageData:
    """The feeds, platform and title a page advertises; relative hrefs resolved against `url`."""
    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    parser = _PageParser()
    parser.feed(html[:MAX_PAGE_CHARS])
    parser.close()
    platform = detect_platform(url, parser.generator, frozenset(parser.hints))
    advertised: list[Candidate] = []
    seen: set[str] = set()
    for href, kind, title in parser.links:
        absolute = _http_url(urljoin(url, href))
        if absolute is None or absolute in seen:
            continue
        seen.add(absolute)
        advertised.append(describe(absolute, "advertised", FEED_TYPES[kind], title))
    title = " ".join("".join(parser.title_parts).split()) or None
    return PageData(url, parser.site_name or title, platform, tuple(advertised))


def detect_platform(
    url: str, generator: str | None = None, hints: frozenset[str] = frozenset()
) -> str | None:
    """The blog platform, from the host name first, then the generator, then the markup."""
    host = (urlsplit(url).hostname or "").lower()
    gen = (generator or "").lower()
    if host.endswith(".blog.gov.uk"):
        return "blog.gov.uk"
    if ".blogspot." in f".{host}" or gen.startswith("blogger"):
        return "Blogger"
    if host == "medium.com" or host.endswith(".medium.com") or gen.startswith("medium"):
        return "Medium"
    if host.endswith(".substack.com") or gen.startswith("substack"):
        return "Substack"
    if gen.startswith("ghost") or host.endswith(".ghost.io"):
        return "Ghost"
    if gen.startswith("wordpress") or host.endswith(".wordpress.com"):
        return "WordPress"
    if {"wp-content/", "wp-includes/"} & hints:
        return "WordPress"
    if {"blogger.com/", "blogblog.com"} & hints:
        return "Blogger"
    if "substackcdn.com" in hints:
        return "Substack"
    if "cdn-client.medium.com" in hints:
        return "Medium"
    if {"ghost.io", "/ghost/"} & hints:
        return "Ghost"
    return None


def conventional_feeds(url: str, platform: str | None) -> tuple[Candidate, ...]:
    """The addresses a platform serves its main feed at (common ones when unknown)."""
    parts = urlsplit(url)
    origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    if platform == "Medium":
        path = _medium_feed_path(parts.hostname or "", parts.path)
        note = "where Medium serves a blog's feed"
        return (Candidate(origin + path, "conventional", None, "main", note),)
    paths = {
        "WordPress": "/feed/",
        "blog.gov.uk": "/feed/",
        "Blogger": "/feeds/posts/default",
        "Ghost": "/rss/",
        "Substack": "/feed",
    }
    if platform in paths:
        note = f"where {platform} blogs serve their feed ({paths[platform]})"
        return (Candidate(origin + paths[platform], "conventional", None, "main", note),)
    note = "an address common blog software serves its feed at"
    return tuple(Candidate(origin + p, "conventional", None, "main", note) for p in GENERIC_PATHS)


def _medium_feed_path(host: str, path: str) -> str:
    """medium.com/@name/... -> /feed/@name; medium.com/pub/... -> /feed/pub; else /feed."""
    first = path.strip("/").split("/", 1)[0]
    if host.lower() == "medium.com" and first and first not in ("feed", "p", "m", "tag"):
        return f"/feed/{first}"
    return "/feed"


def describe(url: str, source: str, fmt: str | None, title: str | None = None) -> Candidate:
    """A candidate with its role (main, comments, category) and a note saying what it is."""
    path = urlsplit(url).path + "?" + urlsplit(url).query
    label = f"{fmt} feed" if fmt else "feed"
    if fmt == "JSON Feed":
        return Candidate(url, source, fmt, "main", "a JSON Feed, which Voice cannot read yet")
    if _COMMENTS_TITLE.search(title or "") or _COMMENTS_PATH.search(path):
        return Candidate(
            url, source, fmt, "comments", "a comments feed: readers' comments, not the blog's posts"
        )
    if _CATEGORY.search(path):
        return Candidate(
            url, source, fmt, "category", "a category or tag feed: only some of the blog's posts"
        )
    named = f" ({title.strip()[:80]})" if title and title.strip() else ""
    return Candidate(url, source, fmt, "main", f"the {label} the page advertises{named}")


def plan_candidates(page: PageData, limit: int = 3) -> tuple[tuple[Candidate, ...], ...]:
    """Tiers of feeds to fetch, best first: advertised main, conventional, category.

    Fetching stops at the first tier with a working feed; within a tier every
    feed is fetched so that full text can beat excerpts. At most `limit`
    addresses are planned in all.
    """
    main = [c for c in page.advertised if c.role == "main" and c.format in READABLE]
    known = {_same(c.url) for c in page.advertised}
    conventional = [
        c for c in conventional_feeds(page.url, page.platform) if _same(c.url) not in known
    ]
    if page.platform is None and main:
        conventional = []  # guessing paths on an unknown site is only for pages that list none
    category = [c for c in page.advertised if c.role == "category" and c.format in READABLE]
    tiers: list[tuple[Candidate, ...]] = []
    left = limit
    for tier in (main[:2], conventional, category[:1]):
        tier = tier[:left]
        if tier:
            tiers.append(tuple(tier))
            left -= len(tier)
    return tuple(tiers)


def left_aside(page: PageData) -> tuple[Candidate, ...]:
    """Advertised feeds never fetched: comments feeds and JSON Feeds."""
    return tuple(c for c in page.advertised if c.role == "comments" or c.format == "JSON Feed")


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    """A web page rather than a feed, by its Content-Type or its first bytes."""
    kind = (content_type or "").lower()
    if "html" in kind and "xhtml+xml" not in kind:
        return True
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html"))


def platform_of_feed(body: bytes, url: str) -> str | None:
    """The platform a feed names in its <generator> (or its host), if any."""
    from_host = detect_platform(url)
    if from_host:
        return from_host
    head = body[:8192].decode("utf-8", "ignore")
    match = re.search(r"<generator[^>]*>([^<]{1,200})<", head, re.IGNORECASE)
    tag = re.search(r"<generator[^>]*uri=\"([^\"]{1,200})\"", head, re.IGNORECASE)
    text = " ".join(m.group(1) for m in (match, tag) if m).lower()
    for mark, platform in (
        ("wordpress", "WordPress"),
        ("blogger", "Blogger"),
        ("ghost", "Ghost"),
        ("substack", "Substack"),
        ("medium", "Medium"),
    ):
        if mark in text:
            return platform
    return None


def _http_url(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def _same(url: str) -> str:
    """A URL compared without scheme, a leading www. or a trailing slash."""
    parts = urlsplit(url)
    host = (parts.netloc or "").lower().removeprefix("www.")
    return f"{host}{parts.path.rstrip('/')}?{parts.query}"
