"""Is this blog already registered, under whatever address it was given?

A member may offer their home page when feeds.yaml has their feed, or
`http://www.` when it has `https://`. `normalise_feed_url` (feeds.py) is
deliberately strict, because two different feeds of one site are two
entries; joining needs the looser question "same blog?", answered by
`blog_key`: the address reduced to the blog's home, so that a feed and its
home page meet. Pure: no I/O, the known redirects are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from urllib.parse import urlsplit

from aggregator.models import FeedSource, Registry

# Where platforms put a blog's feed, below its home page (longest first, so
# /feed/atom goes before /feed). Compared without regard to case.
FEED_SUFFIXES = (
    "/feeds/posts/default",  # Blogger
    "/feed/atom",  # WordPress
    "/feed/rss2",
    "/feed/rdf",
    "/atom.xml",
    "/rss.xml",
    "/feed.xml",
    "/index.xml",  # Hugo
    "/feed.json",
    "/feed",  # WordPress, Substack, blog.gov.uk
    "/rss",  # Ghost
    "/atom",
)
NO_REDIRECTS: Mapping[str, str] = MappingProxyType({})


def blog_key(url: str) -> str:
    """The blog an address belongs to, e.g. `example.org/blog` for
    `http://www.Example.org:80/blog/feed/`.

    Scheme, `www.`, host case, a default port, trailing slashes and a feed
    suffix are dropped; with a feed suffix also its query (`?alt=rss`), which
    only chooses the feed's format, as does WordPress's `?feed=rss2`.
    Medium's `/feed/@name` is `/@name`.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # not a valid address: it can only match itself
        return url.strip().lower()
    host = (parts.hostname or "").lower().rstrip(".").removeprefix("www.")
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    query = parts.query
    if path.lower().startswith("/feed/@"):  # Medium
        path, query = path[len("/feed") :], ""
    for suffix in FEED_SUFFIXES:
        if path.lower().endswith(suffix):
            path, query = path[: -len(suffix)].rstrip("/"), ""
            break
    if query.lower().startswith("feed=") and "&" not in query:  # WordPress's ?feed=rss2
        query = ""
    return netloc + path + (f"?{query}" if query else "")


def find_registered(
    registry: Registry, *urls: str, redirects: Mapping[str, str] = NO_REDIRECTS
) -> FeedSource | None:
    """The registered feed of the blog any of `urls` belongs to, or None.

    Each registered feed is matched by its `url` and its `site_url`.
    `redirects` maps old addresses to new ones the fetcher has seen; a blog
    is the same blog on either side of one, whichever side was registered.
    """
    entries = [(feed.url, feed.site_url) for feed in registry.feeds]
    index = find_entry(entries, *urls, redirects=redirects)
    return None if index is None else registry.feeds[index]


def find_entry(
    entries: Sequence[Iterable[str | None]],
    *urls: str,
    redirects: Mapping[str, str] = NO_REDIRECTS,
) -> int | None:
    """Index of the first entry (its addresses, e.g. url and site_url) of the
    same blog as any of `urls`; for feeds.yaml as loaded for an edit."""
    wanted = _with_redirects({blog_key(url) for url in urls if url}, redirects)
    for index, addresses in enumerate(entries):
        if any(isinstance(a, str) and blog_key(a) in wanted for a in addresses):
            return index
    return None


def _with_redirects(keys: set[str], redirects: Mapping[str, str]) -> set[str]:
    """`keys` plus every key joined to one of them by a chain of redirects."""
    pairs = [(blog_key(old), blog_key(new)) for old, new in redirects.items()]
    found = set(keys)
    grew = True
    while grew:
        grew = False
        for old, new in pairs:
            if (old in found) != (new in found):
                found |= {old, new}
                grew = True
    return found
