"""Turn a fetched document into FeedData; the only module importing feedparser.

`parse_feed` is pure: bytes in, FeedData out, ParseError when the document is
not a usable feed. It trusts nothing in the document, and is meant to run in a
worker process with memory and CPU limits (see `parsepool`).

Order of work for one document:

1. Refuse any document whose DTD declares entities, looking through every
   encoding the bytes could plausibly be read in (a declaration hidden in
   UTF-16 or UTF-7 is still a declaration).
2. feedparser, with its own sanitiser and URI rewriting off: nh3 does both.
   It gets no Content-Location either, so it resolves links only against the
   document's own xml:base and leaves bare guids as written; links are made
   absolute against the feed URL here.
3. Per entry: identity, raw hash, and if the hash is the one we already hold,
   nothing more. Otherwise dates, link, title and sanitised HTML.

Entry identity, in order: the guid/id; the absolute link; "sha256:" + a hash
of title and content. Caps (entries per document, bytes per entry) are applied
and reported in `FeedData.notes`, never silently.
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import html
import io
import json
import re
import xml.sax.expatreader
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from aggregator.analysis import identity as dedupe
from aggregator.errors import ParseError
from aggregator.models import EntryData, FeedData, ParseJob
from aggregator.parsing import sanitize

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})


def _buffer_expat_text() -> None:
    """Have expat hand feedparser each run of text in one piece.

    Without buffer_text, expat calls back once per chunk between entity
    references, and escaped HTML content (`&lt;p&gt;...`) arrives in hundreds
    of pieces per entry: feedparser then spends about a quarter of its time in
    those callbacks. The parsed result is identical (checked over feedparser's
    whole conformance corpus); tests/test_parse.py has a canary for upgrades.
    """
    reader = xml.sax.expatreader.ExpatParser
    if getattr(reader.reset, "_voice_buffered", False):
        return
    original = reader.reset

    def reset(self: xml.sax.expatreader.ExpatParser) -> None:
        original(self)
        self._parser.buffer_text = True

    reset._voice_buffered = True  # type: ignore[attr-defined]
    reader.reset = reset  # type: ignore[method-assign]


_buffer_expat_text()

_ENTITY_TEXT = re.compile(r"<!\s*ENTITY", re.IGNORECASE)
_ENTITY_BYTES = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_XML_ENCODING = re.compile(r"""<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Decodings in which the bytes "<!ENTITY" can only mean "<!ENTITY": searching the
# raw bytes is enough. (Not UTF-7: "+ADw-" is "<". Not ISO-2022: escapes shift.)
_COVERED_BY_BYTES = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252"})
_WIDE = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
_SPACE = re.compile(r"\s+")
# What a browser would start a tag, comment or declaration with: "<b", "</", "<!", "<?".
_TAG_START = re.compile(r"<[A-Za-z/!?]")
# Expat's messages for a document that stops part-way (a cut-off download).
_ENDS_EARLY = ("no element found", "unclosed token", "unclosed cdata section")
MAX_TITLE_CHARS = 1_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_feed(job: ParseJob) -> FeedData:
    """Parse and normalise one feed document; raise ParseError if it is not a usable feed."""
    if _declares_entities(job.body, job.content_type):
        raise ParseError(
            "entities",
            "refused: the document's DTD declares entities, which feeds do not need",
            url=job.url,
        )
    # No Content-Location: feedparser would resolve bare-token guids ("1234",
    # isPermaLink defaulting to true) against it, and every entry key would
    # change when the feed URL does. Links are made absolute here instead.
    headers = {"content-type": job.content_type} if job.content_type else {}
    parsed = feedparser.parse(
        io.BytesIO(job.body),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    raw_entries = list(parsed.get("entries") or [])
    notes: list[str] = []
    if raw_entries and _ends_early(parsed):
        # feedparser's lenient parser keeps the entry the document was cut off in,
        # without the fields that came after the cut (often its guid): storing it
        # would give the post a second identity. It comes back complete next time.
        raw_entries.pop()
        notes.append("the document ends early; ignored its last, possibly incomplete entry")
    if not raw_entries and (not parsed.get("version") or parsed.get("bozo")):
        kind, message = _not_a_feed(job.body, parsed)
        raise ParseError(kind, message, url=job.url)

    feed = parsed.get("feed") or {}
    atom = str(parsed.get("version") or "").startswith("atom")
    doc = _Document(
        job=job,
        fetched_at=_parse_fetched_at(job.fetched_at),
        literal=atom,
        feed_author=_author(feed) if atom else None,  # RSS managingEditor is no byline
    )
    candidates = _distinct_entries(raw_entries, job.url, notes)
    dated = [(entry, _first_date(entry, doc.fetched_at)) for entry in candidates]
    kept = _newest(dated, job.max_entries)
    if len(kept) < len(dated):
        notes.append(f"kept the newest {len(kept)} of {len(dated)} entries")

    truncated = long_titles = 0
    entries: list[EntryData] = []
    for (key, raw_hash, entry), published in kept:
        if job.known.get(key) == raw_hash:
            continue
        data, was_truncated = _entry_data(entry, key, raw_hash, published, doc)
        truncated += was_truncated
        long_titles += data.title.endswith("…") and len(data.title) == MAX_TITLE_CHARS
        entries.append(data)
    if long_titles:
        notes.append(
            f"shortened {long_titles} {'title' if long_titles == 1 else 'titles'} "
            f"longer than {MAX_TITLE_CHARS} characters"
        )
    if truncated:
        notes.append(
            f"truncated {truncated} {'entry' if truncated == 1 else 'entries'} "
            f"longer than {job.max_entry_bytes} bytes"
        )
    return FeedData(
        title=_title(feed.get("title_detail") or feed.get("title"), doc.literal),
        site_url=_http_url(feed.get("link"), job.url),
        ttl_minutes=_ttl(feed.get("ttl")),
        entries=tuple(entries),
        seen_keys=tuple(key for key, _, _ in candidates),
        total_entries=len(raw_entries),
        notes=tuple(notes),
    )


# -- refusing entity declarations -------------------------------------------------


def _declares_entities(body: bytes, content_type: str | None) -> bool:
    """True if `<!ENTITY` appears in any plausible decoding of `body`."""
    # One search over the raw bytes covers UTF-8 and every ASCII-compatible charset.
    if _ENTITY_BYTES.search(body):
        return True
    return any(
        _ENTITY_TEXT.search(body.decode(encoding, "ignore"))
        for encoding in _candidate_encodings(body, content_type)
        if codecs.lookup(encoding).name not in _COVERED_BY_BYTES
    )


def _candidate_encodings(body: bytes, content_type: str | None) -> list[str]:
    names = ["utf-8", "utf-7"]
    names += [name for bom, name in _BOMS if body.startswith(bom)]
    head = body[:4096]
    if b"\x00" in head:
        names += _WIDE
    if head.startswith(b"\x4c\x6f\xa7\x94"):  # "<?xm" in EBCDIC
        names.append("cp037")
    if content_type and (match := _CHARSET.search(content_type)):
        names.append(match.group(1))
    for name in list(names):
        if _usable(name) and (match := _XML_ENCODING.search(head.decode(name, "ignore"))):
            names.append(match.group(1))
    return [name for name in dict.fromkeys(names) if _usable(name)]


def _usable(encoding: str) -> bool:
    """A text encoding Python knows (not base64, zlib and the like)."""
    try:
        return codecs.lookup(encoding)._is_text_encoding
    except LookupError:
        return False


# -- documents that are not feeds ---------------------------------------------------


def _not_a_feed(body: bytes, parsed: Mapping[str, Any]) -> tuple[str, str]:
    text = body[:4096].decode("utf-8", "ignore").lstrip("\ufeff \t\r\n").lower()
    if not text:
        return "not_a_feed", "the server sent an empty document"
    if text.startswith(("{", "[")):
        if "jsonfeed.org" in text:
            return "not_a_feed", "this is a JSON Feed; Voice reads RSS and Atom feeds only"
        return "not_a_feed", "this looks like JSON, not an RSS or Atom feed"
    if "<html" in text or "<!doctype html" in text:
        return "not_a_feed", "this is an HTML page, not a feed: check the feed URL"
    if parsed.get("version"):
        reason = str(parsed.get("bozo_exception") or "unknown error").splitlines()[0][:200]
        reason = reason.replace("<unknown>:", "line ", 1)  # SAX names the stream <unknown>
        return "malformed", f"the feed is not well-formed and no entries could be read: {reason}"
    if text.startswith("<"):
        return "not_a_feed", "this is an XML document but not an RSS or Atom feed"
    return "not_a_feed", "this looks like plain text, not a feed"


# -- entries ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Document:
    """What every entry of one document is normalised against."""

    job: ParseJob
    fetched_at: datetime
    literal: bool  # Atom: a title of type "text" is taken as it stands
    feed_author: str | None  # Atom entries without an author inherit the feed's


Candidate = tuple[str, str, Mapping[str, Any]]  # entry key, raw hash, feedparser entry


def _distinct_entries(
    raw_entries: Iterable[Mapping[str, Any]], base_url: str, notes: list[str]
) -> list[Candidate]:
    """Key and hash every entry; the first entry with a key wins."""
    seen: dict[str, Candidate] = {}
    repeated = 0
    for entry in raw_entries:
        key = _entry_key(entry, base_url)
        if key in seen:
            repeated += 1
            continue
        seen[key] = (key, _raw_hash(entry), entry)
    if repeated:
        notes.append(f"ignored {repeated} repeated {'entry' if repeated == 1 else 'entries'}")
    return list(seen.values())


def _entry_key(entry: Mapping[str, Any], base_url: str) -> str:
    guid = sanitize.strip_controls(entry.get("id") or "").strip()
    if guid:
        return guid
    link = _http_url(entry.get("link"), base_url)
    if link:
        return link
    content = _pick_content(entry)
    body = content.get("value") if content else entry.get("summary")
    return "sha256:" + _sha256([entry.get("title") or "", body or ""])


def _raw_hash(entry: Mapping[str, Any]) -> str:
    return _sha256(
        [
            entry.get("id"),
            entry.get("link"),
            entry.get("title"),
            [content.get("value") for content in entry.get("content") or []],
            entry.get("summary"),
            entry.get("published"),
            dict.get(entry, "updated"),  # not FeedParserDict.get: it falls back to published
            entry.get("author"),
            [tag.get("term") for tag in entry.get("tags") or []],
        ]
    )


def _sha256(value: object) -> str:
    encoded = json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
    return hashlib.sha256(encoded).hexdigest()


def _newest(
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


def _entry_data(
    entry: Mapping[str, Any],
    key: str,
    raw_hash: str,
    published: str | None,
    doc: _Document,
) -> tuple[EntryData, bool]:
    job = doc.job
    content = _pick_content(entry)
    summary = entry.get("summary_detail") or (
        {"value": entry["summary"], "type": "text/html"} if entry.get("summary") else None
    )
    truncated = False
    content_html = summary_html = None
    if content:
        content_html, truncated = _clean(content, job)
    if summary and (not content or summary.get("value") != content.get("value")):
        summary_html, summary_truncated = _clean(summary, job)
        truncated = truncated or summary_truncated
    guid = sanitize.strip_controls(entry.get("id") or "").strip() or None
    url = _http_url(entry.get("link"), job.url)
    title = _title(entry.get("title_detail") or entry.get("title"), doc.literal) or ""
    text = sanitize.text_of_clean_html(content_html or summary_html or "")
    data = EntryData(
        entry_key=key,
        raw_hash=raw_hash,
        guid=guid,
        url=url,
        title=title,
        author=_author(entry) or doc.feed_author,
        published=published,
        updated=_iso(dict.get(entry, "updated_parsed"), doc.fetched_at),
        categories=_categories(entry.get("tags") or []),
        summary_html=summary_html or None,
        content_html=content_html or None,
        text=text,
        # The identity keys for recognising moved posts, computed here, in the
        # worker, so the single writer does not spend its time on them.
        url_key=dedupe.canonical_url(url) if url else None,
        content_key=dedupe.content_key(title, text),
    )
    return data, truncated


def _pick_content(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    contents = [c for c in entry.get("content") or [] if c.get("value")]
    for content in contents:
        if content.get("type") in HTML_TYPES:
            return content
    return contents[0] if contents else None


def _clean(detail: Mapping[str, Any], job: ParseJob) -> tuple[str, bool]:
    """Sanitised HTML of a feedparser content/summary detail, and whether it was cut."""
    value = detail.get("value") or ""
    truncated = False
    if len(value) * 4 > job.max_entry_bytes:  # cheap test first: UTF-8 is at most 4 bytes a char
        encoded = value.encode("utf-8", "surrogatepass")
        if len(encoded) > job.max_entry_bytes:
            value = encoded[: job.max_entry_bytes].decode("utf-8", "ignore")
            truncated = True
    if detail.get("type") not in HTML_TYPES:
        value = html.escape(value)
    # feedparser reports the xml:base in scope, relative when the document's is
    base = _http_url(detail.get("base") or "", job.url) or job.url
    return sanitize.clean_html(value, base), truncated


def _categories(tags: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    terms = (
        _SPACE.sub(" ", sanitize.strip_controls(tag.get("term") or "")).strip() for tag in tags
    )
    return tuple(dict.fromkeys(term for term in terms if term))


def _author(entry: Mapping[str, Any]) -> str | None:
    author = entry.get("author") or (entry.get("author_detail") or {}).get("name")
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
        text, kind = value.get("value") or "", value.get("type")
    # A literal "<script>" in a title is harmless only where every reader escapes
    # it; titles are stored without tags, so tag-like text is taken as markup.
    if kind in HTML_TYPES or not literal or _TAG_START.search(text):
        return sanitize.text_of(text) or None
    return _SPACE.sub(" ", sanitize.strip_controls(text)).strip() or None


def _title(value: Mapping[str, Any] | str | None, literal: bool) -> str | None:
    """Plain text of a title, at most MAX_TITLE_CHARS long (cut ones end in "…")."""
    if isinstance(value, Mapping) and len(value.get("value") or "") > 8 * MAX_TITLE_CHARS:
        value = {**value, "value": value["value"][: 8 * MAX_TITLE_CHARS]}  # bound the work
    elif isinstance(value, str) and len(value) > 8 * MAX_TITLE_CHARS:
        value = value[: 8 * MAX_TITLE_CHARS]
    text = _plain(value, literal)
    if text is not None and len(text) > MAX_TITLE_CHARS:
        text = text[: MAX_TITLE_CHARS - 1] + "…"
    return text


def _ends_early(parsed: Mapping[str, Any]) -> bool:
    exc = parsed.get("bozo_exception")
    if not isinstance(exc, xml.sax.SAXParseException):
        return False
    return str(exc.getMessage()).lower().startswith(_ENDS_EARLY)


def _is_http(url: str) -> bool:
    try:
        return urlsplit(url).scheme.lower() in ("http", "https")
    except ValueError:
        return False


def _http_url(link: str | None, base_url: str) -> str | None:
    """`link` made absolute against `base_url`, if it is http(s); otherwise None."""
    if not link:
        return None
    try:
        url = urljoin(base_url, sanitize.strip_controls(link).strip())
    except ValueError:
        return None
    return url if _is_http(url) else None


def _ttl(value: object) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes if 0 < minutes <= 525_600 else None


def _parse_fetched_at(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _first_date(candidate: Candidate, fetched_at: datetime) -> str | None:
    entry = candidate[2]
    return _iso(entry.get("published_parsed"), fetched_at) or _iso(
        dict.get(entry, "updated_parsed"), fetched_at
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
