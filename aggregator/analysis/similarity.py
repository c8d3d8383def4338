"""Is this post a copy of one Voice already has, from another feed? Pure decisions, no I/O.

One post reaches Voice several ways: a member's blog and their council's team
blog, a Medium copy ending "Originally published at ...", a network feed that
republishes members' posts. Different posts also look alike: "Weeknotes 12"
and "Weeknotes 13" share their boilerplate, two people write "Reflections on
LocalGovCamp" two years apart. `duplicate_match` says which rule, if any,
makes a new post a copy of an older one, with a score that is stored with the
decision so every fold can be explained and audited.

Precision matters more than recall: a wrongly folded post disappears from the
river, a missed copy only shows twice. So each rule is a strong signal, and the
content rules are fenced by guards for the look-alikes above.

Comparing a new post with every stored post does not scale, so candidates
come from indexes: the URL key, the evidence key (`evidence`), the content
key, and the LSH band keys of the post's MinHash signature (`sketch`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aggregator.analysis.evidence import evidence_url
from aggregator.analysis.identity import canonical_url, content_key, title_key, words
from aggregator.analysis.sketch import NUM_PERM, estimated_jaccard, minhash, shingles

# --- thresholds ---------------------------------------------------------------
#
# Chosen by reasoning about the copies and look-alikes in tests/test_similarity.py,
# to be tuned on the labelled set (`make eval`). To tune: compute
# `estimated_jaccard` for every candidate pair (pairs sharing a band key) of
# the labelled posts, mark each pair same/different from the gold clusters,
# and sweep each threshold for the highest recall at pairwise precision >=
# 0.98; then check the guard constants on the look-alike pairs alone, since
# they are rare in the set and a sweep over all pairs barely sees them.

# Minimum estimated Jaccard similarity of the text shingles for "near-duplicate"
# when title and named author agree. A copy with a typo fixed or a paragraph
# added to a 300-word post scores ~0.75-0.95; different posts on one subject
# score below 0.1 (they share phrases, rarely runs of five words).
NEAR_DUPLICATE_THRESHOLD = 0.6

# The bar when the titles differ ("Guest post: ...") or two different named
# authors are given. A republication with a short intro still scores ~0.85-0.9;
# two announcements filled in from one event template score ~0.6-0.7.
STRICT_THRESHOLD = 0.8

# Content rules only fold posts published within this many days of each other.
# Copies appear within days; an annual "Reflections on LocalGovCamp" reappears
# after a year. URL and evidence rules ignore dates: a copy may be months late.
MAX_DAYS_APART = 60

# Texts with fewer shingles than this get no signature: in a 30-word note, one
# shared sentence is most of the text. Exact copies still match by content key.
MIN_SHINGLES = 30

# --- fingerprints and the decision ------------------------------------------------------


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
    # The exact shingles, when the caller has them: the near-duplicate rule then
    # uses the exact Jaccard instead of the signature's estimate (sd ~0.05),
    # which matters near a threshold. The store fills them in for the few
    # candidates the indexes return.
    shingle_set: frozenset[int] = frozenset()


_CARDINALS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS = {word: str(i) for i, word in enumerate(_CARDINALS.split())}
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7",
          "viii": "8", "ix": "9", "x": "10"}  # fmt: skip
_SERIES_WORDS = frozenset({"part", "pt", "chapter", "episode", "ep", "vol", "volume", "week"})
_DIGITS = re.compile(r"\d+")


def title_numbers(title: str) -> tuple[str, ...]:
    """The numbers in a title, in order: what tells a series' posts apart.

    Digits anywhere ("Weeknotes 12", "LocalGovCamp 2016", "S01E02"), number
    words ("part two") and Roman numerals after a series word ("Part II"),
    all as plain decimal so "Part 2", "part two" and "Part II" agree.
    """
    numbers: list[str] = []
    previous = ""
    for word in words(title):
        if _DIGITS.search(word):
            numbers.extend(str(int(run)) for run in _DIGITS.findall(word))
        elif word in _NUMBER_WORDS:
            numbers.append(_NUMBER_WORDS[word])
        elif word in _ROMAN and previous in _SERIES_WORDS:
            numbers.append(_ROMAN[word])
        previous = word
    return tuple(numbers)


def fingerprint(
    *,
    post_id: int,
    feed_id: int,
    author: str | None,
    published: str,
    url: str | None,
    title: str,
    text: str,
    content_html: str | None,
    own_blog: bool,
) -> Fingerprint:
    """The Fingerprint of a stored post.

    `published` is ISO 8601 (naive means UTC); for a post whose feed gave no
    date, pass when Voice first saw it. A post's claim to be a copy of itself
    is no evidence, so it is dropped.
    """
    url_key = canonical_url(url) if url else None
    evidence_key = evidence_url(content_html, url)
    hashes = shingles(text)
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
        signature=minhash(hashes, NUM_PERM) if len(hashes) >= MIN_SHINGLES else (),
        own_blog=own_blog,
        shingle_set=hashes if len(hashes) >= MIN_SHINGLES else frozenset(),
    )


def _utc(published: str) -> datetime:
    moment = datetime.fromisoformat(published)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Match:
    """Why a post is a copy: the rule (stored as `duplicate_reason`) and its score."""

    rule: str  # "same-url", "evidence", "same-content" or "near-duplicate"
    score: float  # 1.0 for the exact rules, the estimated Jaccard for near-duplicate


def duplicate_match(new: Fingerprint, old: Fingerprint) -> Match | None:
    """The first rule by which `new` and `old` are one post, or None.

    1. same-url: both link to one canonical URL. Even within a feed: one
       post listed twice.
    2. evidence: one claims to be a copy of the other's URL, or both claim
       the same original (a Medium copy and a team-blog copy of a post whose
       own blog is not in Voice).
    3. same-content: identical title and text, with a strong (`c:`) content key.
    4. near-duplicate: estimated Jaccard of the texts >= NEAR_DUPLICATE_THRESHOLD,
       or >= STRICT_THRESHOLD when titles differ or two different named authors
       are given; never between two posts of one feed, since a blog does not
       cross-post to itself, and its posts share boilerplate.

    Rules 3 and 4 are off when the titles carry different numbers (Weeknotes
    12 and 13, part 1 and 2) or the posts are more than MAX_DAYS_APART apart.
    The decision is symmetric: swapping new and old gives the same Match.
    """
    if new.post_id == old.post_id:
        return None
    if new.url_key is not None and new.url_key == old.url_key:
        return Match("same-url", 1.0)
    if (new.evidence_key is not None and new.evidence_key in (old.url_key, old.evidence_key)) or (
        old.evidence_key is not None and old.evidence_key == new.url_key
    ):
        return Match("evidence", 1.0)
    if new.title_numbers != old.title_numbers:
        return None
    if abs(new.published - old.published) > timedelta(days=MAX_DAYS_APART):
        return None
    if new.content_key.startswith("c:") and new.content_key == old.content_key:
        return Match("same-content", 1.0)
    if new.feed_id == old.feed_id:
        return None
    score = (
        _jaccard(new.shingle_set, old.shingle_set)
        if new.shingle_set and old.shingle_set
        else estimated_jaccard(new.signature, old.signature)
    )
    strict = new.title_key != old.title_key or _named_authors_differ(new.author, old.author)
    if score >= (STRICT_THRESHOLD if strict else NEAR_DUPLICATE_THRESHOLD):
        return Match("near-duplicate", score)
    return None


# Author fields that name a role or an account, not a person: they say nothing
# about who wrote a republished post.
_UNNAMED = frozenset(
    {"admin", "administrator", "editor", "editors", "webmaster", "team", "staff", "guest",
     "author", "blog", "unknown", "anonymous", "comms", "communications", "digital", "web"}
)  # fmt: skip


def comparable_shingles(text: str) -> frozenset[int]:
    """The shingles the exact near-duplicate check uses; none for too short a text."""
    hashes = shingles(text)
    return hashes if len(hashes) >= MIN_SHINGLES else frozenset()


def _jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _named_authors_differ(a: str | None, b: str | None) -> bool:
    """Both name a person and share no word ("Jo Bloggs" and "jo@example.org (Jo)" agree)."""
    words_a, words_b = set(words(a or "")), set(words(b or ""))
    if not words_a or not words_b or words_a & _UNNAMED or words_b & _UNNAMED:
        return False
    return not words_a & words_b


def choose_canonical(cluster: Sequence[Fingerprint]) -> int:
    """The post_id readers see for a cluster of copies.

    The member's own blog where it is in the cluster (it is theirs, and where
    comments and corrections happen), otherwise the earliest published: the
    others copy it. Ties go to the lowest post_id, the first stored, so the
    choice does not depend on the order posts arrive in.
    """
    if not cluster:
        raise ValueError("an empty cluster has no canonical post")
    own = [fp for fp in cluster if fp.own_blog]
    return min(own or cluster, key=lambda fp: (fp.published, fp.post_id)).post_id
