"""Normalise feedparser's entries into EntryData; no feedparser import here.

parse.py hands over feedparser's plain mappings; this module keys, hashes,
dates, caps and sanitises them, so the per-entry rules sit in one place.

Entry identity, in order: the guid/id; the absolute link; "sha256:" + a hash
of title and content. The raw hash covers what feedparser read, so an entry
whose hash is the one already held is skipped before any sanitising.

Images in content load only from the host of the feed URL itself (`job.url`,
after redirects): the one host Voice has connected to, through the guard that
refuses private addresses unless allow_private_hosts is set, and the blog's
own. The entry's link and the feed's site link are only what the document
says, so a hostile feed could name an internal host there; they grant
nothing. Text people read (titles, authors, categories) loses bidi controls;
identities (guid, link) keep them.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from aggregator.analysis import identity
from aggregator.models import EntryData, ParseJob
from aggregator.parsing import sanitize

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_SPACE = re.compile(r"\s+")
# What a browser would start a tag, comment or declaration with: "<b", "</", "<!", "<?".
_TAG_START = re.compile(r"<[A-Za-z/!?]")
MAX_TITLE_CHARS = 1_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Document:
    """What every entry of one document is normalised against."""

    job: ParseJob
    fetched_at: datetime
    literal: bool  # Atom: a title of type "text" is taken as it stands
    feed_author: str | None  # Atom entries without an author inherit the feed's


# FeedParserDict.get goes through its __getitem__, which maps old key names
# ("guid", "description") and falls back from "updated" to "published": five
# times the cost of dict.get, on every field of every entry. No key read here
# is one it maps or special-cases ("updated" must not fall back), so dict.get
# gives the same values.
_get = dict.get

Candidate = tuple[str, str, Mapping[str, Any]]  # entry key, raw hash, feedparser entry


def key_entries(
    items: Iterable[Mapping[str, Any] | tuple[str, str]], base_url: str
) -> list[Candidate]:
    """Key and hash every entry in document order.

    An item may be an (entry key, raw hash) pair already known for an entry
    feedparser was spared (parsing/blocks.py): it stands for that entry,
    with no fields of its own.
    """
    return [
        (item[0], item[1], {})
        if isinstance(item, tuple)
        else (_entry_key(item, base_url), _raw_hash(item), item)
        for item in items
    ]


def distinct_entries(keyed: Iterable[Candidate], notes: list[str]) -> list[Candidate]:
    """The first entry with a key wins."""
    seen: dict[str, Candidate] = {}
    repeated = 0
    for candidate in keyed:
        if candidate[0] in seen:
            repeated += 1
            continue
        seen[candidate[0]] = candidate
    if repeated:
        notes.append(f"ignored {repeated} repeated {'entry' if repeated == 1 else 'entries'}")
    return list(seen.values())


def _entry_key(entry: Mapping[str, Any], base_url: str) -> str:
    guid = sanitize.strip_controls(_get(entry, "id") or "").strip()
    if guid:
        return guid
    link = http_url(_get(entry, "link"), base_url)
    if link:
        return link
    content = _pick_content(entry)
    body = _get(content, "value") if content else _get(entry, "summary")
    return "sha256:" + _sha256([_get(entry, "title") or "", body or ""])


def _raw_hash(entry: Mapping[str, Any]) -> str:
    return _sha256(
        [
            _get(entry, "id"),
            _get(entry, "link"),
            _get(entry, "title"),
            [_get(content, "value") for content in _get(entry, "content") or []],
            _get(entry, "summary"),
            _get(entry, "published"),
            _get(entry, "updated"),  # not FeedParserDict.get: it falls back to published
            _get(entry, "author"),
            [_get(tag, "term") for tag in _get(entry, "tags") or []],
        ]
    )


def _sha256(value: object) -> str:
    encoded = json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    return hashlib.sha256(encoded).hexdigest()


def newest(
    dated: list[tuple[Candidate, str | None]], limit: int
) -> list[tuple[Candidate, str | None]]:
    """The `limit` newest entries in document order; undated ones rank after dated ones."""
    if len(dated) <= limit:
        return dated
    # The ISO strings sort as dates; sorted() is stable, so ties keep document order.
    newest_first = sorted(
        (i for i, (_, date) in enumerate(dated) if date),
        key=lambda i: dated[i][1] or "",
        reverse=True,
    )
    undated = [i for i, (_, date) in enumerate(dated) if not date]
    return [dated[i] for i in sorted((newest_first + undated)[: max(limit, 0)])]


def entry_data(
    entry: Mapping[str, Any],
    key: str,
    raw_hash: str,
    published: str | None,
    doc: Document,
) -> tuple[EntryData, bool]:
    """The normalised entry, and whether its content or summary was cut to size."""
    job = doc.job
    content = _pick_content(entry)
    summary = _get(entry, "summary_detail") or (
        {"value": entry["summary"], "type": "text/html"} if _get(entry, "summary") else None
    )
    truncated = False
    content_html = summary_html = None
    if content:
        content_html, truncated = _clean(content, job)
    if summary and (not content or _get(summary, "value") != _get(content, "value")):
        summary_html, summary_truncated = _clean(summary, job)
        truncated = truncated or summary_truncated
    guid = sanitize.strip_controls(_get(entry, "id") or "").strip() or None
    url = http_url(_get(entry, "link"), job.url)
    title = title_of(_get(entry, "title_detail") or _get(entry, "title"), doc.literal) or ""
    text = sanitize.text_of_clean_html(content_html or summary_html or "")
    data = EntryData(
        entry_key=key,
        raw_hash=raw_hash,
        guid=guid,
        url=url,
        title=title,
        author=author_of(entry) or doc.feed_author,
        published=published,
        updated=_iso(_get(entry, "updated_parsed"), doc.fetched_at),
        categories=_categories(_get(entry, "tags") or []),
        summary_html=summary_html or None,
        content_html=content_html or None,
        text=text,
        # The identity keys for recognising moved posts, computed here, in the
        # worker, so the single writer does not spend its time on them.
        url_key=identity.canonical_url(url) if url else None,
        content_key=identity.content_key(title, text),
    )
    return data, truncated


def _pick_content(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    contents = [c for c in _get(entry, "content") or [] if _get(c, "value")]
    for content in contents:
        if _get(content, "type") in HTML_TYPES:
            return content
    return contents[0] if contents else None


def _clean(detail: Mapping[str, Any], job: ParseJob) -> tuple[str, bool]:
    """Sanitised HTML of a feedparser content/summary detail, and whether it was cut."""
    value = _get(detail, "value") or ""
    truncated = False
    if len(value) * 4 > job.max_entry_bytes:  # cheap test first: UTF-8 is at most 4 bytes a char
        encoded = value.encode("utf-8", "surrogatepass")
        if len(encoded) > job.max_entry_bytes:
            value = encoded[: job.max_entry_bytes].decode("utf-8", "ignore")
            truncated = True
    if _get(detail, "type") not in HTML_TYPES:
        value = html.escape(value)
    # feedparser reports the xml:base in scope, relative when the document's is
    base = http_url(_get(detail, "base") or "", job.url) or job.url
    return sanitize.clean_html(value, base, image_host=sanitize.url_host(job.url)), truncated


def _categories(tags: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    terms = (
        _SPACE.sub(" ", sanitize.strip_controls_and_bidi(_get(tag, "term") or "")).strip()
        for tag in tags
    )
    return tuple(dict.fromkeys(term for term in terms if term))


def author_of(entry: Mapping[str, Any]) -> str | None:
    """Plain-text author of a feedparser entry or feed, if it names one."""
    author = _get(entry, "author") or _get(_get(entry, "author_detail") or {}, "name")
    return _plain(author) or None


# -- small conversions --------------------------------------------------------------


def _plain(value: Mapping[str, Any] | str | None, literal: bool = True) -> str | None:
    """Plain text of a feedparser text construct (a detail dict) or string.

    Text is taken literally only when `literal` (Atom, where type="text" is
    declared) and the type is text/plain. RSS never says, feedparser guesses,
    and titles such as "<b>News</b>" or "AT&amp;amp;T" are common.
    """
    if not value:
        return None
    if isinstance(value, str):
        text, kind = value, "text/plain"
    else:
        text, kind = _get(value, "value") or "", _get(value, "type")
    # A literal "<script>" in a title is harmless only where every reader escapes
    # it; titles are stored without tags, so tag-like text is taken as markup.
    if kind in HTML_TYPES or not literal or _TAG_START.search(text):
        return sanitize.text_of(text) or None
    return _SPACE.sub(" ", sanitize.strip_controls_and_bidi(text)).strip() or None


def title_of(value: Mapping[str, Any] | str | None, literal: bool) -> str | None:
    """Plain text of a title, at most MAX_TITLE_CHARS long (cut ones end in "…")."""
    if isinstance(value, Mapping) and len(_get(value, "value") or "") > 8 * MAX_TITLE_CHARS:
        value = {**value, "value": value["value"][: 8 * MAX_TITLE_CHARS]}  # bound the work
    elif isinstance(value, str) and len(value) > 8 * MAX_TITLE_CHARS:
        value = value[: 8 * MAX_TITLE_CHARS]
    text = _plain(value, literal)
    if text is not None and len(text) > MAX_TITLE_CHARS:
        text = text[: MAX_TITLE_CHARS - 1] + "…"
    return text


def _is_http(url: str) -> bool:
    try:
        return urlsplit(url).scheme.lower() in ("http", "https")
    except ValueError:
        return False


def http_url(link: str | None, base_url: str) -> str | None:
    """`link` made absolute against `base_url`, if it is http(s); otherwise None."""
    if not link:
        return None
    try:
        url = urljoin(base_url, sanitize.strip_controls(link).strip())
    except ValueError:
        return None
    return url if _is_http(url) else None


def first_date(candidate: Candidate, fetched_at: datetime) -> str | None:
    """The entry's published date, else its updated date, as ISO text."""
    entry = candidate[2]
    return _iso(_get(entry, "published_parsed"), fetched_at) or _iso(
        _get(entry, "updated_parsed"), fetched_at
    )


def _iso(parsed: Any, fetched_at: datetime) -> str | None:
    """feedparser's UTC struct_time as "YYYY-MM-DDTHH:MM:SSZ", no later than fetched_at."""
    if not parsed:
        return None
    try:
        moment = _EPOCH + timedelta(seconds=calendar.timegm(parsed))
    except (OverflowError, ValueError, TypeError):
        return None
    moment = min(moment, fetched_at)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"
