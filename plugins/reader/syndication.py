"""Cards to Atom 1.0, JSON Feed 1.1 and OPML 2.0: pure functions, no I/O.

- Entry ids are tag URIs (RFC 4151) with a fixed authority, never the
  request's host: `tag:localgov.digital,2026:post/<posts.id>`. A post's id is
  never reused, so a reader never shows a post twice, whichever address
  Voice is served from.
- Each entry carries the post's excerpt (its sanitised summary, else its
  plain-text excerpt), never the full content, and links to the original.
- Every value goes through ElementTree or json, after characters XML forbids
  are removed, so the documents are well-formed whatever a post contains.
- `etag` hashes the body; `newest` gives the time for Last-Modified.

The caller (plugins/voice_feeds.py) supplies absolute URLs built from the
request; `FeedHead.key` says which feed it is, independent of the host.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from typing import Any, Protocol
from urllib.parse import quote

TAG_AUTHORITY = "localgov.digital,2026"
PUBLISHER = "LocalGov Digital Voice"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ATOM_NS = "http://www.w3.org/2005/Atom"
# An empty feed still needs an `updated`; a fixed one keeps its ETag stable.
EMPTY_UPDATED = "2016-01-01T00:00:00Z"

ATOM_TYPE = "application/atom+xml; charset=utf-8"
JSON_TYPE = "application/feed+json"
OPML_TYPE = "text/x-opml; charset=utf-8"

# Characters XML 1.0 does not allow (and C1 controls, lone surrogates, BOM-likes).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# Active links the sanitiser never keeps; if one is ever seen, the HTML is not used.
_ACTIVE = re.compile(r"""(?i)(href|src)\s*=\s*["']?\s*(javascript|data|vbscript):""")

ET.register_namespace("", ATOM_NS)


class CardLike(Protocol):
    """What a feed reads of `reader.selection.Card`."""

    id: int
    title: str
    url: str | None
    blog_title: str
    blog_site_url: str | None
    author: str | None
    published: str
    updated: str | None
    first_seen_at: str
    excerpt: str
    summary_html: str | None
    topics: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class MemberFeed:
    """A member blog's own feed, as OPML lists it."""

    title: str
    feed_url: str
    site_url: str | None
    region: str | None


@dataclass(frozen=True)
class FeedHead:
    """One feed's own details. `key` names it without a host, e.g. `topics/open-data`."""

    key: str
    title: str
    self_url: str
    home_url: str
    description: str = ""


def clean(value: object) -> str:
    """Text with the characters XML forbids removed."""
    return _ILLEGAL.sub("", str(value)) if value is not None else ""


def entry_id(post_id: int) -> str:
    return f"tag:{TAG_AUTHORITY}:post/{int(post_id)}"


def feed_id(key: str) -> str:
    return f"tag:{TAG_AUTHORITY}:feed/{quote(clean(key), safe='/?=&-._~')}"


def web_url(value: str | None) -> str | None:
    """An absolute http(s) URL, or None."""
    text = clean(value).strip()
    return text if re.match(r"(?i)^https?://[^\s/]", text) and " " not in text else None


def _date(value: str | None, fallback: str) -> str:
    text = clean(value).strip()
    return text if _RFC3339.match(text) else fallback


def published(card: CardLike) -> str:
    return _date(card.published, _date(card.first_seen_at, EMPTY_UPDATED))


def updated(card: CardLike) -> str:
    return _date(card.updated, published(card))


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def newest(cards: Sequence[CardLike]) -> datetime | None:
    """When the newest entry changed: its updated or first-seen time, whichever is later."""
    times = [
        _instant(t)
        for card in cards
        for t in (updated(card), _date(card.first_seen_at, EMPTY_UPDATED))
    ]
    return max(times) if times else None


def _stamp(when: datetime | None) -> str:
    if when is None:
        return EMPTY_UPDATED
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def title_of(card: CardLike) -> str:
    return clean(card.title).strip() or f"A post on {clean(card.blog_title).strip() or 'a blog'}"


def author_of(card: CardLike) -> str:
    return clean(card.author).strip() or clean(card.blog_title).strip() or PUBLISHER


def excerpt_html(card: CardLike) -> str:
    """The post's sanitised summary, else its plain-text excerpt as one paragraph."""
    summary = clean(card.summary_html).strip()
    if summary and not _ACTIVE.search(summary):
        return summary
    text = clean(card.excerpt).strip()
    return f"<p>{escape(text)}</p>" if text else ""


def etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


# -- Atom 1.0 (RFC 4287) -----------------------------------------------------------


def _sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, f"{{{ATOM_NS}}}{name}", {k: clean(v) for k, v in attrs.items()})
    if text is not None:
        node.text = clean(text)
    return node


def _atom_entry(feed: ET.Element, card: CardLike) -> None:
    entry = _sub(feed, "entry")
    _sub(entry, "id", entry_id(card.id))
    _sub(entry, "title", title_of(card), type="text")
    _sub(entry, "updated", updated(card))
    _sub(entry, "published", published(card))
    link = web_url(card.url)
    if link:
        _sub(entry, "link", rel="alternate", type="text/html", href=link)
    author = _sub(entry, "author")
    _sub(author, "name", author_of(card))
    site = web_url(card.blog_site_url)
    if site:
        _sub(author, "uri", site)
    for slug, label in card.topics:
        _sub(entry, "category", term=slug, label=label)
    _sub(entry, "content", excerpt_html(card), type="html")


def atom_feed(head: FeedHead, cards: Sequence[CardLike]) -> bytes:
    feed = ET.Element(f"{{{ATOM_NS}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": "en-GB"})
    _sub(feed, "id", feed_id(head.key))
    _sub(feed, "title", head.title, type="text")
    if head.description:
        _sub(feed, "subtitle", head.description, type="text")
    _sub(feed, "updated", _stamp(newest(cards)))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=head.self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=head.home_url)
    author = _sub(feed, "author")
    _sub(author, "name", PUBLISHER)
    _sub(feed, "generator", PUBLISHER)
    for card in cards:
        _atom_entry(feed, card)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


# -- JSON Feed 1.1 ------------------------------------------------------------------


def _json_item(card: CardLike) -> dict[str, Any]:
    item: dict[str, Any] = {"id": entry_id(card.id)}
    link = web_url(card.url)
    if link:
        item["url"] = link
    item["title"] = title_of(card)
    item["content_html"] = excerpt_html(card)
    summary = clean(card.excerpt).strip()
    if summary:
        item["summary"] = summary
    item["date_published"] = published(card)
    item["date_modified"] = updated(card)
    author: dict[str, str] = {"name": author_of(card)}
    site = web_url(card.blog_site_url)
    if site:
        author["url"] = site
    item["authors"] = [author]
    if card.topics:
        item["tags"] = [clean(label) for _, label in card.topics]
    return item


def json_feed(head: FeedHead, cards: Sequence[CardLike]) -> bytes:
    document: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": clean(head.title),
        "home_page_url": clean(head.home_url),
        "feed_url": clean(head.self_url),
        "language": "en-GB",
        "authors": [{"name": PUBLISHER}],
        "items": [_json_item(card) for card in cards],
    }
    if head.description:
        document["description"] = clean(head.description)
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


# -- OPML 2.0 -----------------------------------------------------------------------

NO_REGION = "No region"


def opml(title: str, blogs: Iterable[MemberFeed], created: datetime | None) -> bytes:
    """Member blogs' own feeds, one outline per region (A to Z), blogs A to Z in each."""
    root = ET.Element("opml", {"version": "2.0"})
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = clean(title)
    stamp = created or _instant(EMPTY_UPDATED)
    ET.SubElement(head, "dateCreated").text = http_date(stamp)
    ET.SubElement(head, "ownerName").text = PUBLISHER
    ET.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ET.SubElement(root, "body")
    regions: dict[str, list[MemberFeed]] = {}
    for blog in blogs:
        if web_url(blog.feed_url):
            regions.setdefault(clean(blog.region).strip() or NO_REGION, []).append(blog)
    for region in sorted(regions, key=str.casefold):
        group = ET.SubElement(body, "outline", {"text": region, "title": region})
        for blog in sorted(regions[region], key=lambda b: clean(b.title).casefold()):
            name = clean(blog.title).strip() or str(web_url(blog.feed_url))
            attrs = {
                "type": "rss",
                "text": name,
                "title": name,
                "xmlUrl": str(web_url(blog.feed_url)),
            }
            site = web_url(blog.site_url)
            if site:
                attrs["htmlUrl"] = site
            ET.SubElement(group, "outline", attrs)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
