"""Turn a fetched document into FeedData; the only module importing feedparser.

`parse_feed` is pure: bytes in, FeedData out, ParseError when the document is
not a usable feed. It trusts nothing in the document, and is meant to run in a
worker process with memory and CPU limits (see `aggregator.parsing.pool`).

Order of work for one document:

1. Refuse any document whose DTD declares entities, looking through every
   encoding the bytes could plausibly be read in (a declaration hidden in
   UTF-16 or UTF-7 is still a declaration): `entities.py`.
2. feedparser, with its own sanitiser and URI rewriting off: nh3 does both.
   It gets no Content-Location either, so it resolves links only against the
   document's own xml:base and leaves bare guids as written; links are made
   absolute against the feed URL here.
   Entries whose bytes are ones already stored, unchanged since, are cut out
   of the document first and not read at all (`blocks.py`).
3. Per entry: identity, raw hash, and if the hash is the one we already hold,
   nothing more. Otherwise dates, link, title and sanitised HTML: `entries.py`.

Caps (entries per document, bytes per entry) are applied and reported in
`FeedData.notes`, never silently.
"""

from __future__ import annotations

import copy
import io
import types
import xml.sax
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser
import feedparser.api
import feedparser.mixin

from aggregator.errors import ParseError
from aggregator.models import EntryData, FeedData, ParseJob
from aggregator.parsing import blocks, expat
from aggregator.parsing.entities import declares_entities
from aggregator.parsing.entries import (
    MAX_TITLE_CHARS,
    Candidate,
    Document,
    author_of,
    distinct_entries,
    entry_data,
    first_date,
    http_url,
    key_entries,
    newest,
    title_of,
)


def _prefer_buffered_expat() -> None:
    """Have feedparser parse with Voice's buffered expat driver (see expat.py).

    feedparser builds its SAX parser with
    `xml.sax.make_parser(PREFERRED_XML_PARSERS)`; naming the driver first in
    that list of feedparser's gives it to feedparser alone, leaving xml.sax as
    it ships for the rest of the process. tests/test_parse.py has a canary.
    """
    parsers = feedparser.api.PREFERRED_XML_PARSERS
    if expat.__name__ not in parsers:
        parsers.insert(0, expat.__name__)


_prefer_buffered_expat()

# What deepcopy gives back as it is: a copy of a dict holding only these is its items.
_ATOMIC = frozenset({str, int, bool, type(None)})


def _copy_content_params(params: Any, memo: dict[int, Any] | None = None) -> Any:
    """copy.deepcopy, without its generic machinery for feedparser's content parameters.

    For every text element feedparser deep-copies the element's parameters
    (type, language, base, base64: strings and a flag) into the result: about
    a twentieth of its time on blog feeds. A dict holding only atomic values is
    copied exactly by setting its items into a new one, as deepcopy itself
    rebuilds a dict subclass; anything else goes to deepcopy.
    """
    if type(params) is feedparser.FeedParserDict and _ATOMIC.issuperset(map(type, params.values())):
        copied = feedparser.FeedParserDict()
        for key, value in params.items():
            copied[key] = value
        return copied
    return copy.deepcopy(params, memo)


def _copy_content_params_cheaply() -> None:
    """Give feedparser's element handlers (feedparser.mixin) `_copy_content_params` as
    their `copy.deepcopy`, leaving the copy module as it ships for everything else.
    tests/test_parse.py has a canary and compares whole parses both ways."""
    shown = types.SimpleNamespace(**{name: getattr(copy, name) for name in copy.__all__})
    shown.deepcopy = _copy_content_params
    feedparser.mixin.copy = shown


_copy_content_params_cheaply()

# Expat's messages for a document that stops part-way (a cut-off download).
_ENDS_EARLY = ("no element found", "unclosed token", "unclosed cdata section")


# What reads the documents, for blocks.py's hashes (feedparser's own attribute:
# importlib.metadata would add 11 ms to the start of every cycle that parses).
READER = f"feedparser-{feedparser.__version__}"


def parse_feed(job: ParseJob) -> FeedData:
    """Parse and normalise one feed document; raise ParseError if it is not a usable feed."""
    _refuse_entities(job)
    layout = blocks.layout_of(job.body, job.content_type, job.url, job.max_entries, READER)
    if layout is None:
        return feed_data(job, _read(job.body, job.content_type))
    spared = _unchanged(layout, job)
    parsed = _read(blocks.without(job.body, layout, frozenset(spared)), job.content_type)
    if len(parsed.get("entries") or []) != len(layout.spans) - len(spared):
        # not the entries the scan saw (cannot happen to a well-formed document): read it all
        return feed_data(job, _read(job.body, job.content_type))
    return feed_data(job, parsed, layout, spared)


def _unchanged(layout: blocks.Layout, job: ParseJob) -> dict[int, tuple[str, str]]:
    """Entries (by position) whose bytes were stored with the raw hash still held."""
    spared = {}
    for index, block in enumerate(layout.hashes):
        hit = job.known_blocks.get(block)
        if hit is None:
            continue
        key, stored = hit
        raw = job.known.get(key)
        if raw and raw == stored:
            spared[index] = (key, raw)
    return spared


def read_document(job: ParseJob) -> Mapping[str, Any]:
    """feedparser's reading of the whole document, refused first if its DTD declares entities."""
    _refuse_entities(job)
    return _read(job.body, job.content_type)


def _refuse_entities(job: ParseJob) -> None:
    if declares_entities(job.body, job.content_type):
        raise ParseError(
            "entities",
            "refused: the document's DTD declares entities, which feeds do not need",
            url=job.url,
        )


def _read(body: bytes, content_type: str | None) -> Mapping[str, Any]:
    # No Content-Location: feedparser would resolve bare-token guids ("1234",
    # isPermaLink defaulting to true) against it, and every entry key would
    # change when the feed URL does. Links are made absolute here instead.
    headers = {"content-type": content_type} if content_type else {}
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def feed_data(
    job: ParseJob,
    parsed: Mapping[str, Any],
    layout: blocks.Layout | None = None,
    spared: Mapping[int, tuple[str, str]] | None = None,
) -> FeedData:
    """Normalise what feedparser read: every rule per entry is here.

    With a `layout`, `parsed` is the document without the `spared` entries
    (position -> entry key and raw hash), which stand in their places.
    """
    raw_entries = list(parsed.get("entries") or [])
    notes: list[str] = []
    if raw_entries and _ends_early(parsed):
        # feedparser's lenient parser keeps the entry the document was cut off in,
        # without the fields that came after the cut (often its guid): storing it
        # would give the post a second identity. It comes back complete next time.
        raw_entries.pop()
        notes.append("the document ends early; ignored its last, possibly incomplete entry")
    items: list[Mapping[str, Any] | tuple[str, str]] = list(raw_entries)
    if layout is not None and spared:
        fresh = iter(raw_entries)
        items = [spared.get(i) or next(fresh) for i in range(len(layout.spans))]
    if not items and (not parsed.get("version") or parsed.get("bozo")):
        kind, message = _not_a_feed(job.body, parsed)
        raise ParseError(kind, message, url=job.url)

    feed = parsed.get("feed") or {}
    atom = str(parsed.get("version") or "").startswith("atom")
    doc = Document(
        job=job,
        fetched_at=_parse_fetched_at(job.fetched_at),
        literal=atom,
        feed_author=author_of(feed) if atom else None,  # RSS managingEditor is no byline
    )
    keyed = key_entries(items, job.url)
    candidates = distinct_entries(keyed, notes)
    dated = [(entry, first_date(entry, doc.fetched_at)) for entry in candidates]
    kept = newest(dated, job.max_entries)
    if len(kept) < len(dated):
        notes.append(f"kept the newest {len(kept)} of {len(dated)} entries")

    truncated = long_titles = 0
    entries: list[EntryData] = []
    for (key, raw_hash, entry), published in kept:
        if job.known.get(key) == raw_hash:
            continue
        data, was_truncated = entry_data(entry, key, raw_hash, published, doc)
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
        title=title_of(feed.get("title_detail") or feed.get("title"), doc.literal),
        site_url=http_url(feed.get("link"), job.url),
        ttl_minutes=_ttl(feed.get("ttl")),
        entries=tuple(entries),
        seen_keys=tuple(key for key, _, _ in candidates),
        total_entries=len(items),
        notes=tuple(notes),
        blocks=None if layout is None else _blocks(layout, keyed),
    )


def _blocks(layout: blocks.Layout, keyed: list[Candidate]) -> tuple[tuple[str, str, str], ...]:
    """What to keep for the next fetch: each entry's block hash, key and raw hash."""
    pairs = zip(layout.hashes, keyed, strict=True)
    return tuple((block, key, raw) for block, (key, raw, _) in pairs)


# -- documents that are not (whole) feeds -------------------------------------------


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


def _ends_early(parsed: Mapping[str, Any]) -> bool:
    exc = parsed.get("bozo_exception")
    if not isinstance(exc, xml.sax.SAXParseException):
        return False
    return str(exc.getMessage()).lower().startswith(_ENDS_EARLY)


# -- small conversions --------------------------------------------------------------


def _ttl(value: object) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes if 0 < minutes <= 525_600 else None


def _parse_fetched_at(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
