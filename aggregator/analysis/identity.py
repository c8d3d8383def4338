"""Is this entry a post Voice already has? Pure keys and decisions, no I/O.

A blog that changes every GUID (a move from http to https, or to a new
platform) must not get a second copy of every post, and cross-feed
deduplication needs the same notion of "the same post". Both rest on keys
computed here:

- `canonical_url` (from `urls`): a comparison key for a post's address.
- `content_key` and `title_key`: fingerprints of what a reader sees, blind to
  case, spacing and punctuation, so a re-published copy matches.
- `find_moved_entry`: given one feed's stored posts, which one (if any) is the
  new entry under a changed GUID. It errs towards "no match": a missed move
  costs a duplicate that cross-feed dedupe can still fold; a wrong match
  overwrites a different post.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from aggregator.analysis.urls import canonical_url
from aggregator.models import EntryData

# --- the public key ------------------------------------------------------------


def public_key(url_key: str | None, feed_url: str, entry_key: str) -> str:
    """A post's key that any Voice instance computes alike, for researchers joining
    releases: 32 hex digits of SHA-256 of its canonical URL, or, for a post with
    no URL, of its feed's URL and entry id. Given once, when the post is stored."""
    source = f"url:{url_key}" if url_key else f"entry:{feed_url}\n{entry_key}"
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# --- content and title keys --------------------------------------------------

# Fewer words than this in title and text together identify no post: "Weeknotes"
# with no body, or "Podcast" + "Listen here", recur across different posts.
MIN_CONTENT_WORDS = 12

_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")  # soft hyphen, zero widths, BOM
_APOSTROPHES = re.compile("['\u2018\u2019\u02bc`\u00b4]")  # "it's" and "its" are one word
_WORD = re.compile(r"[^\W_]+")


def content_key(title: str, text: str) -> str:
    """Fingerprint of a post as read, so a copy under a new GUID or URL matches.

    Case, Unicode compatibility forms, spacing and punctuation are ignored;
    every word and number counts, so "Weeknotes 12" and "Weeknotes 13" differ.
    The key is `c:` + sha256 hex; when title and text hold fewer than
    MIN_CONTENT_WORDS words it is `w:` + sha256 hex instead, a weak key that
    may index candidates but never proves two posts are one.
    """
    title_words, text_words = _words(title), _words(text)
    prefix = "c:" if len(title_words) + len(text_words) >= MIN_CONTENT_WORDS else "w:"
    return prefix + _sha256(" ".join(title_words) + "\n" + " ".join(text_words))


def title_key(title: str) -> str:
    """Fingerprint of the normalised title alone (`t:` + sha256 hex), for finding candidates.

    Titles repeat ("Weeknotes", "Reflections on LocalGovCamp"), so equal title
    keys say "compare these", never "these are one post".
    """
    return "t:" + _sha256(" ".join(_words(title)))


class _WordTable(dict[int, str | None]):
    """str.translate table, filled on first sight of each character.

    Invisible characters and apostrophes are deleted (they join a word), every
    other character that is not a letter or digit separates words. The same
    words as `_WORD.findall` after removing `_INVISIBLE` and `_APOSTROPHES`,
    in one pass of C: four times faster on post-sized text.
    """

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        if _INVISIBLE.match(char) or _APOSTROPHES.match(char):
            value = None
        else:
            value = char if char.isalnum() else " "
        self[code] = value
        return value


_WORD_TABLE = _WordTable()


def _words(text: str) -> list[str]:
    memo = _REMEMBERED
    if memo is not None and (known := memo.get(text)) is not None:
        return known
    folded = unicodedata.normalize("NFKC", text).casefold()
    found = folded.translate(_WORD_TABLE).split()
    if memo is not None:
        memo[text] = found
    return found


_REMEMBERED: dict[str, list[str]] | None = None


@contextmanager
def words_remembered() -> Iterator[None]:
    """Within it, each text's words are computed once (callers never change the list).

    A parse worker splits each post's text into words for its content key and
    again for its shingles: a tenth of a millisecond a post. The memory is one
    feed's texts, let go when the block ends.
    """
    global _REMEMBERED
    outer, _REMEMBERED = _REMEMBERED, {} if _REMEMBERED is None else _REMEMBERED
    try:
        yield
    finally:
        _REMEMBERED = outer


def words(text: str) -> list[str]:
    """The words the keys above are made of, for other fingerprints that must agree with them.

    NFKC-folded and case-folded; apostrophes and invisible characters join a
    word, anything else that is not a letter or digit separates words.
    """
    return _words(text)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- moved entries -----------------------------------------------------------


@dataclass(frozen=True)
class EntryKeys:
    """The keys of one entry just parsed from a feed."""

    entry_key: str
    url_key: str | None
    content_key: str


@dataclass(frozen=True)
class ExistingPost:
    """The keys of one post already stored for the same feed."""

    id: int
    entry_key: str
    url_key: str | None
    content_key: str


def entry_keys(entry: EntryData) -> EntryKeys:
    """The keys `find_moved_entry` compares (the parse worker usually has them ready)."""
    if entry.content_key is not None:
        return EntryKeys(entry.entry_key, entry.url_key, entry.content_key)
    return EntryKeys(
        entry_key=entry.entry_key,
        url_key=canonical_url(entry.url) if entry.url else None,
        content_key=content_key(entry.title, entry.text),
    )


def find_moved_entry(
    new: EntryKeys, existing: Sequence[ExistingPost], *, still_in_feed: Collection[str] = ()
) -> int | None:
    """The id of the stored post that `new` is, under a changed GUID; None if none is.

    `existing` must hold posts of the same feed only: a GUID or a URL shared
    with another feed never moves a post across feeds. Evidence, strongest
    first:

    1. An existing post with the same entry key means `new` is not new at all:
       None, and the normal update path handles it.
    2. Posts whose entry key is in `still_in_feed` (the keys in the current
       document) are live entries of their own, not moved ones: two link posts
       pointing at one article keep their own rows.
    3. Same canonical URL and same content: the oldest such post (several means
       earlier duplicates; the oldest is the one readers have seen).
    4. Same canonical URL: that post, or the oldest if several. A URL match beats
       a content match on another post, as content may be edited during a move.
    5. Same content key only (a new platform with new URLs): that post if exactly
       one has it; None if several do, as picking one could overwrite the wrong
       post. Weak (`w:`) content keys never count.
    """
    if any(post.entry_key == new.entry_key for post in existing):
        return None
    live = set(still_in_feed)
    candidates = [post for post in existing if post.entry_key not in live]
    by_url = [p.id for p in candidates if new.url_key is not None and p.url_key == new.url_key]
    by_content = [
        p.id
        for p in candidates
        if new.content_key.startswith("c:") and p.content_key == new.content_key
    ]
    both = set(by_url) & set(by_content)
    if both:
        return min(both)
    if by_url:
        return min(by_url)
    if len(by_content) == 1:
        return by_content[0]
    return None


# --- blog slugs ------------------------------------------------------------------

_SLUG_RUN = re.compile(r"[^a-z0-9]+")
MAX_SLUG = 60


def blog_slug(title: str | None, site_url: str | None, feed_url: str) -> str:
    """A readable address part for a blog's page: its title, else its site's host and path.

    Only lower-case ASCII letters, digits and single hyphens, so it needs no
    escaping anywhere; storage makes it unique and never changes it.
    """
    text = title or ""
    if not _ascii_slug(text):
        parts = urlsplit(site_url or feed_url)
        host = (parts.hostname or "").removeprefix("www.")
        text = f"{host} {parts.path}" if site_url is None else host
    return _ascii_slug(text) or "blog"


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _SLUG_RUN.sub("-", folded.lower()).strip("-")[:MAX_SLUG].rstrip("-")
