"""What cross-feed deduplication knows about one post: its Fingerprint and index keys. Pure.

One constructor (`fingerprint`) for the store and the tests alike, so the
rules in `similarity` always compare the same things. The keys a post is
indexed under in `post_lsh` (the route to its candidates) are `sketch.lsh_keys`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from aggregator.analysis.evidence import SAYS_COPY_EDGE, says_it_is_a_copy
from aggregator.analysis.identity import canonical_url, content_key, title_key, words
from aggregator.analysis.sketch import NUM_PERM, is_cut, minhash, post_sequence
from aggregator.analysis.titles import title_numbers, title_stem, title_unlabelled


@dataclass(frozen=True)
class Fingerprint:
    """What cross-feed deduplication knows about one post."""

    post_id: int
    feed_id: int
    author: str | None
    published: datetime  # aware, UTC
    url_key: str | None  # dedupe.canonical_url of the post's link
    evidence_key: str | None  # canonical_url of the original it claims to copy
    title_key: str
    content_key: str
    title_numbers: tuple[str, ...]
    signature: tuple[int, ...]  # () when the text is too short to compare
    own_blog: bool  # the feed is the author's own blog, where the canonical copy lives
    # The exact shingles (sketch.post_shingles, empty for too short a text):
    # the near-duplicate rule uses the exact Jaccard instead of the signature's
    # estimate (sd ~0.05), which matters near a threshold, and "opening-of"
    # needs them to measure containment.
    shingle_set: frozenset[int] = frozenset()
    url_fragment: str = ""  # the link's #fragment, which url_key leaves out
    title_stem_key: str | None = None  # title_key of the title less a " – Blog name" suffix
    says_copy: bool = False  # evidence.says_it_is_a_copy: "Guest post: ...", "first appeared on"
    cut: bool = False  # the text ends as an excerpt does: "[…]", "Read more", "Continue reading"
    title_unlabelled_key: str | None = None  # less "Issue 4:", "Guest post:" (title_unlabelled)
    text_numbers: frozenset[str] = frozenset()  # the numbers in the text (dates, years, amounts)
    # The shingles in order and the words they are made of (sketch.post_sequence):
    # "framed" reads where two texts agree, not only how much.
    shingle_seq: tuple[int, ...] = ()
    text_words: tuple[str, ...] = ()
    title_words: frozenset[str] = frozenset()
    # The words of the text's opening and closing SAYS_COPY_EDGE characters,
    # where an intro or an outro credits the post's author (bylines.credits).
    edge_words: frozenset[str] = frozenset()


def fingerprint(
    *,
    post_id: int,
    feed_id: int,
    author: str | None,
    published: str,
    url: str | None,
    title: str,
    text: str,
    evidence_key: str | None,
    own_blog: bool,
    signature: Sequence[int] | None = None,
) -> Fingerprint:
    """The Fingerprint of a post: the one constructor, for the store and the tests alike.

    `published` is ISO 8601 (naive means UTC); for a post whose feed gave no
    date, pass when Voice first saw it. `evidence_key` is the canonical URL
    of the original the post says it copies (`evidence.evidence_url`); a
    post's claim to be a copy of itself is no evidence, so it is dropped.
    `signature` is the MinHash the parse worker stored
    (`sketch.signature`), reused when given; either way a text with fewer
    than MIN_SHINGLES shingles has no signature and no shingles, so it
    resembles nothing.
    """
    url_key = canonical_url(url) if url else None
    sequence, text_words = post_sequence(text)
    hashes = frozenset(sequence)
    if not hashes:
        sig: tuple[int, ...] = ()
    elif signature:
        sig = tuple(signature)
    else:
        sig = minhash(hashes, NUM_PERM)
    stem = title_stem(title)
    unlabelled = title_unlabelled(title)
    return Fingerprint(
        post_id=post_id,
        feed_id=feed_id,
        author=author,
        published=_utc(published),
        url_key=url_key,
        evidence_key=evidence_key if evidence_key != url_key else None,
        title_key=title_key(title),
        content_key=content_key(title, text),
        title_numbers=title_numbers(title),
        signature=sig,
        own_blog=own_blog,
        shingle_set=hashes,
        url_fragment=_fragment(url),
        title_stem_key=title_key(stem) if stem else None,
        says_copy=says_it_is_a_copy(title, text),
        cut=is_cut(text),
        title_unlabelled_key=title_key(unlabelled) if unlabelled else None,
        text_numbers=frozenset(w for w in text_words if w.isdigit()),
        shingle_seq=sequence,
        text_words=text_words,
        title_words=frozenset(words(title)),
        edge_words=frozenset(words(f"{text[:SAYS_COPY_EDGE]} {text[-SAYS_COPY_EDGE:]}")),
    )


def _fragment(url: str | None) -> str:
    if not url:
        return ""
    try:
        fragment = urlsplit(url).fragment
    except ValueError:
        return ""
    return "" if fragment.startswith("!") else fragment  # a "#!" route is in url_key


def _utc(published: str) -> datetime:
    moment = datetime.fromisoformat(published)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
