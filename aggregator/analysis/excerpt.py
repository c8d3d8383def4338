"""The excerpt of a post, for blogs whose member chose to show excerpts only.

Pure: sanitised HTML in, an excerpt out. The feed's own summary is used when
it is short; otherwise the first paragraphs of the post, cut at a word
boundary near `MAX_CHARS` characters of text and ended with "…". A cut
excerpt is plain paragraphs (links and markup dropped), at most `MAX_CHARS`
characters of text, so cutting an excerpt again gives the same excerpt.

Words said about a post (tagging's evidence) are kept for an excerpt only
when the excerpt shows them (`shown_in`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser

MAX_CHARS = 600
MIN_PART_CHARS = 40  # a paragraph cut shorter than this is left out instead
ELLIPSIS = "…"

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "details",
        "div", "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary",
        "table", "tr", "ul",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Excerpt:
    html: str | None  # sanitised HTML (the summary as given, or plain paragraphs)
    text: str  # plain text, one paragraph a line


class _Paragraphs(HTMLParser):
    """The text of each block of already-sanitised HTML, spaces collapsed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._words: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._end_block()

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._end_block()

    def handle_data(self, data: str) -> None:
        self._words.append(data)

    def _end_block(self) -> None:
        text = " ".join("".join(self._words).split())
        if text:
            self.found.append(text)
        self._words = []

    def close(self) -> None:
        super().close()
        self._end_block()


def paragraphs(html: str) -> list[str]:
    """The plain text of each paragraph (block) of an HTML fragment."""
    parser = _Paragraphs()
    parser.feed(html)
    parser.close()
    return parser.found


def excerpt_of(
    summary_html: str | None, content_html: str | None, limit: int = MAX_CHARS
) -> Excerpt:
    """The excerpt of a post from its sanitised summary and content."""
    if summary_html:
        summary = paragraphs(summary_html)
        if summary and sum(map(len, summary)) <= limit:
            return Excerpt(summary_html, "\n".join(summary))
    source = content_html or summary_html or ""
    found = paragraphs(source)
    if sum(map(len, found)) <= limit:  # a short post is its own excerpt
        return Excerpt(source or None, "\n".join(found))
    kept = _first_paragraphs(found, limit)
    return Excerpt("".join(f"<p>{escape(p, quote=False)}</p>" for p in kept), "\n".join(kept))


def _first_paragraphs(found: list[str], limit: int) -> list[str]:
    """Whole paragraphs while they fit, then the next one cut; at most `limit` chars."""
    kept: list[str] = []
    used = 0
    for paragraph in found:
        if used + len(paragraph) < limit:
            kept.append(paragraph)
            used += len(paragraph)
            continue
        room = limit - used - len(ELLIPSIS)
        if room >= MIN_PART_CHARS or not kept:
            kept.append(cut_at_word(paragraph, room))
        else:
            kept[-1] += ELLIPSIS
        break
    return kept


def cut_at_word(text: str, room: int) -> str:
    """`text` cut to at most `room` characters at a word boundary, plus "…"."""
    if len(text) <= room:
        return text + ELLIPSIS
    cut = text[:room]
    if text[room] != " " and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-–—") + ELLIPSIS


def shown_in(words: Iterable[str], text: str) -> tuple[str, ...]:
    """The words and phrases that `text` shows whole, in any case: the rest is not public.

    A phrase's words may be apart by any spaces or punctuation ("open data"
    is shown by "open-data"), as tagging's tokens are runs of letters and digits.
    """
    return tuple(w for w in words if w.split() and _whole(w).search(text))


def _whole(phrase: str) -> re.Pattern[str]:
    inner = r"[\W_]+".join(map(re.escape, phrase.split()))
    return re.compile(rf"(?<![^\W_]){inner}(?![^\W_])", re.IGNORECASE)
