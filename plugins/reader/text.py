"""Text for people: slugs, readable dates, author names, excerpts, snippets."""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import date

# A feed's status as people read it: on a blog's page and a member's status page.
STATUS_TEXT = {
    "new": "Not checked yet: Voice will read its feed soon.",
    "ok": "Working: Voice reads its feed.",
    "error": "The last check failed.",
    "failing": "Failing for some days: Voice still checks it, less often.",
    "gone": "The feed has gone: its server says it was removed, so Voice no longer checks it.",
    "removed": "No longer listed: Voice no longer checks it; its posts stay.",
}

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
EXCERPT_WORDS = 40
# Unusual characters marking search hits in FTS5 snippets, replaced after escaping.
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"

_EMAIL = re.compile(r"\S+@\S+")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|<\s*>|\[\s*\]")


def slugify(name: str) -> str:
    """ "South East" -> "south-east": lower-case ASCII letters, digits and hyphens."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")


def readable_date(stamp: str | None) -> str:
    """ "2016-11-21T08:47:00Z" -> "21 November 2016"; "" when there is no date."""
    if not stamp:
        return ""
    try:
        day = date.fromisoformat(stamp[:10])
    except ValueError:
        return stamp
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def display_author(author: str | None) -> str | None:
    """ "Phil Rumens (noreply@blogger.com)" -> "Phil Rumens"; never an e-mail address."""
    if not author:
        return None
    name = _EMPTY_BRACKETS.sub("", _EMAIL.sub("", author))
    name = " ".join(name.split()).strip(" ,;-")
    return name or None


def excerpt(text: str | None, words: int = EXCERPT_WORDS) -> str:
    """About `words` words of plain text, cut at a word with "…"."""
    found = (text or "").split()
    if len(found) <= words:
        return " ".join(found)
    return " ".join(found[:words]).rstrip(".,;:!?") + "…"


def marked_snippet(snippet: str | None) -> str | None:
    """An FTS5 snippet made with MARK_OPEN/MARK_CLOSE: escaped, hits in <mark>."""
    if not snippet:
        return None
    escaped = html.escape(" ".join(snippet.split()), quote=True)
    return escaped.replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>")


_HEADING = re.compile(r"<(/?)h([1-6])\b", re.I)


def shift_headings(body_html: str | None, start: int = 3) -> str | None:
    """A post's headings renumbered from `start` without gaps, under the page's own.

    The levels a post uses, in order, become start, start+1, … (at most 6), so
    "h1, h3" in a post becomes "h3, h4" below the page's h1 and h2. The HTML is
    sanitised already: a `<` in text is escaped, so only real tags match.
    """
    if not body_html:
        return body_html
    levels = sorted({int(level) for _, level in _HEADING.findall(body_html)})
    new = {level: min(start + i, 6) for i, level in enumerate(levels)}
    return _HEADING.sub(lambda m: f"<{m.group(1)}h{new[int(m.group(2))]}", body_html)
