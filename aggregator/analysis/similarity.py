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

Comparing a new post with every stored post does not scale, so candidates come
from indexes: the URL key, the evidence key, the content key, and the LSH
`band_keys` of a MinHash `signature` (table `post_lsh`). Signatures and band
keys depend only on the text and the constants here, never on the process
(no `hash()`, no random state), so `voice dedupe --rebuild` and incremental
processing find the same candidates. Changing SHINGLE_SIZE, NUM_PERM, BANDS or
the hash seed changes every key: rebuild `post_lsh` after doing so.
"""

from __future__ import annotations

import hashlib
import html
import re
import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from urllib.parse import urljoin

from aggregator.analysis.identity import canonical_url, content_key, title_key, words
from aggregator.models import FeedData

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

# --- MinHash and LSH shape ------------------------------------------------------

SHINGLE_SIZE = 5  # words: long enough that shared stock phrases rarely make a shingle
NUM_PERM = 64  # standard error of estimated_jaccard is sqrt(J(1-J)/64): 0.06 at 0.6
BANDS = 21  # of 3 rows each (63 of the 64 values); see band_keys for the S-curve
_SEED = b"voice-minhash-v1"  # the (a, b) parameters derive from it; never change silently

# --- evidence links -----------------------------------------------------------

# A "copy of" link counts only this many characters of HTML from either end:
# the notes sit in an intro or a footer, and a link in the middle of a post
# ("I originally posted about this on ...") is a citation, not a claim.
EVIDENCE_EDGE = 1000

_CLAIM = (
    r"(?:originally\s+(?:published|posted|appeared|written|shared)"
    r"|first\s+(?:appeared|published|posted)"
    r"|cross-?posted\s+(?:from|with)"
    r"|(?:re-?posted|re-?published)\s+(?:from|with\s+(?:kind\s+)?permission)"
    r"|this\s+(?:post|article|piece)\s+is\s+from)"
)
# Text or inline markup between the claim and its link: no block boundary and
# no other link, so the link belongs to the claim's sentence.
_GAP = r"(?:[^<]|</?(?:em|i|strong|b|span|small|cite)\b[^>]*>){0,120}?"
_HREF = r"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>"""
_CLAIM_THEN_LINK = re.compile(_CLAIM + _GAP + _HREF, re.IGNORECASE)
_LINK_STATES_CLAIM = re.compile(
    _HREF + r"(?:[^<]|</?(?:em|i|strong|b|span)\b[^>]*>){0,40}?" + _CLAIM, re.IGNORECASE
)
# WordPress (Yoast) feed footer: "The post <a href=POST>Title</a> appeared first on <a>Site</a>."
_YOAST = re.compile(
    r"the\s+post\s+" + _HREF + r"[^<]{0,300}</a>\s*appeared\s+first\s+on", re.IGNORECASE
)
# A word every claim pattern above needs ("appeared first" is the Yoast footer).
_HINTS = (
    "originally", "appeared", "first published", "first posted", "cross-posted",
    "crossposted", "reposted", "re-posted", "republished", "re-published", "is from",
    "canonical",
)  # fmt: skip
_CANONICAL_TAG = re.compile(r"<(?:a|link)\b[^<>]*$", re.IGNORECASE)  # the tag, up to "canonical"
_REL_CANONICAL = re.compile(r"""\brel\s*=\s*["']?(?:[^"'>]*\s)?$""", re.IGNORECASE)
_TAG_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
# Only this much of each end is searched: a claim starting within EVIDENCE_EDGE
# may run on past it. It also bounds the work on malformed HTML, where a
# pattern scanning for a ">" that never comes would be quadratic in the length.
_WINDOW = EVIDENCE_EDGE + 1000
_MAX_TAG = 2000
_CANONICAL_WORD = re.compile(r"canonical(?![\w-])", re.IGNORECASE)


def evidence_url(content_html: str | None, base_url: str | None) -> str | None:
    """The URL key of the original this post says it is a copy of, or None.

    A claim in the post's own words ("Originally published at <a>",
    "This post first appeared on <a>", "Cross-posted from <a>", a WordPress
    "The post <a> appeared first on" footer) near its start or end, or a
    `rel="canonical"` link anywhere. The sanitiser rewrites `rel` on stored
    HTML, so the canonical link is only seen in HTML that has not been through it.

    Conservative, since a wrong claim folds a different post: links to a
    site's home page say where, not which post, and are ignored; if the links
    found disagree, there is no evidence.
    """
    if not content_html:
        return None
    lowered = content_html.lower()
    if not any(hint in lowered for hint in _HINTS):
        return None  # most posts claim nothing: a few substring scans instead of four patterns
    size = len(content_html)
    if size <= 2 * _WINDOW:
        segments = [(0, content_html)]
    else:
        segments = [(0, content_html[:_WINDOW]), (size - _WINDOW, content_html[-_WINDOW:])]
    hrefs: list[str] = []
    for offset, segment in segments:
        for pattern in (_CLAIM_THEN_LINK, _LINK_STATES_CLAIM, _YOAST):
            for match in pattern.finditer(segment):
                if (
                    offset + match.start() < EVIDENCE_EDGE
                    or offset + match.end() > size - EVIDENCE_EDGE
                ):
                    hrefs.append(match.group(1) or match.group(2) or "")
    hrefs.extend(_canonical_links(content_html))
    keys = {_post_key(href, base_url) for href in hrefs}
    keys.discard(None)
    return keys.pop() if len(keys) == 1 else None


def _canonical_links(content_html: str) -> list[str]:
    """hrefs of <a> or <link> tags with rel "canonical", found from the word, not the tags."""
    hrefs = []
    for word in _CANONICAL_WORD.finditer(content_html):
        at = word.start()
        start = content_html.rfind("<", max(0, at - _MAX_TAG), at)
        end = content_html.find(">", at, at + _MAX_TAG)
        if start == -1 or end == -1:
            continue
        before = content_html[start:at]
        if _CANONICAL_TAG.match(before) and _REL_CANONICAL.search(before):
            href = _TAG_HREF.search(content_html, start, end + 1)
            if href:
                hrefs.append(href.group(1) or href.group(2) or href.group(3) or "")
    return hrefs


def _post_key(href: str, base_url: str | None) -> str | None:
    """canonical_url of a link, or None if it cannot name one post (a bare host)."""
    url = html.unescape(href).strip()
    try:
        url = urljoin(base_url, url) if base_url else url
    except ValueError:
        return None
    key = canonical_url(url)
    if key is None or ("/" not in key and "?" not in key):
        return None
    return key


# --- shingles, MinHash, LSH ------------------------------------------------------


def shingles(text: str, k: int = SHINGLE_SIZE) -> frozenset[int]:
    """Hashes of every run of `k` consecutive words, the unit of near-duplicate similarity.

    Words are dedupe's (case, punctuation and Unicode forms ignored), so a copy
    that only re-typesets quotes and dashes has the same shingles. Runs of
    words rather than single words, so that two posts on one subject, which
    share a vocabulary, do not look alike. A text shorter than `k` words is
    one shingle. Each word is hashed once (blake2b, cached: blog words repeat)
    and a run's hash is Python's hash of the tuple of its words' hashes, which
    is stable across processes for ints and runs in C: several times faster
    than hashing each run's text.
    """
    w = words(text)
    if not w:
        return frozenset()
    cache = _WORD_HASHES
    hashes = [cache.get(word) or _word_hash(word) for word in w]
    if len(hashes) < k:
        return frozenset({hash(tuple(hashes)) & _MASK64})
    # hash() of a tuple of ints does not depend on PYTHONHASHSEED (only str and
    # bytes are salted), so these values are the same in every process;
    # tests/test_canaries.py fails if a Python upgrade changes the tuple hash.
    runs = zip(*(hashes[i:] for i in range(k)), strict=False)
    return frozenset(hash(run) & _MASK64 for run in runs)


_WORD_HASHES: dict[str, int] = {}


def _word_hash(word: str) -> int:
    h = _WORD_HASHES.get(word)
    if h is None:
        h = int.from_bytes(_blake8(word), "little")
        if len(_WORD_HASHES) < 500_000:  # bounded: a hostile feed cannot grow it forever
            _WORD_HASHES[word] = h
    return h


def _blake8(run: str) -> bytes:
    return hashlib.blake2b(run.encode("utf-8", "surrogatepass"), digest_size=8).digest()


@cache
def _hash_params(num_perm: int) -> tuple[tuple[int, int], ...]:
    """(a, b) for each of the `num_perm` hash functions, derived from _SEED alone."""
    params = []
    for i in range(num_perm):
        digest = hashlib.blake2b(_SEED + i.to_bytes(4, "little"), digest_size=32).digest()
        a = int.from_bytes(digest[:16], "little") | 1
        b = int.from_bytes(digest[16:], "little")
        params.append((a, b))
    return tuple(params)


_LANE = 24  # bytes per shingle: a 64-bit x times a 128-bit a, plus b, stays below 2**192
_ONE_LANE = (1).to_bytes(_LANE, "little")


def signature(text: str, num_perm: int = NUM_PERM) -> tuple[int, ...]:
    """MinHash signature of the text's shingles; () for a text with no words.

    The share of positions where two signatures agree estimates the Jaccard
    similarity of the two shingle sets (`estimated_jaccard`), in a fixed size
    whatever the length of the post.
    """
    return _minhash(shingles(text), num_perm)


def _minhash(hashes: Iterable[int], num_perm: int) -> tuple[int, ...]:
    """One-permutation MinHash with densification, from the shingles' own hashes.

    Each shingle's 64-bit hash (already a blake2b digest, so uniform) is
    scrambled once with a fixed odd multiplier; its value modulo `num_perm`
    picks a bin and the rest competes for that bin's minimum. An empty bin
    (few shingles) borrows the value of the next filled bin to its right,
    shifted by the distance, so two texts agree on it only when they agree on
    the bin it borrowed from (rotation densification). This estimates Jaccard
    as well as `num_perm` separate hash functions do, at one multiply per
    shingle instead of `num_perm`: about 0.3 ms for a 3 KB post instead of 4.
    """
    bins = [_EMPTY] * num_perm
    for x in hashes:
        y = (x * _SCRAMBLE) & _MASK64
        slot, value = y % num_perm, y // num_perm
        if value < bins[slot]:
            bins[slot] = value
    filled = [i for i, value in enumerate(bins) if value != _EMPTY]
    if not filled:
        return ()
    if len(filled) < num_perm:
        for i in range(num_perm):
            if bins[i] != _EMPTY:
                continue
            distance = 1
            while bins[(i + distance) % num_perm] == _EMPTY:
                distance += 1
            # real values are below 2**64 / num_perm; a borrowed one sits in the
            # band above for its distance, so it still fits 64 bits
            bins[i] = bins[(i + distance) % num_perm] + distance * (_BORROW // num_perm)
    return tuple(bins)


_MASK64 = (1 << 64) - 1
_SCRAMBLE = int.from_bytes(hashlib.blake2b(_SEED, digest_size=8).digest(), "little") | 1
_EMPTY = 1 << 80
_BORROW = 1 << 64


def estimated_jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures.

    0.0 if either is empty: a text too short to compare resembles nothing.
    """
    if not a or not b:
        return 0.0
    if len(a) != len(b):
        raise ValueError(f"signatures of different lengths ({len(a)}, {len(b)}) do not compare")
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def band_keys(sig: Sequence[int], bands: int = BANDS) -> tuple[str, ...]:
    """LSH keys ("b03:<hex>"): posts sharing any key are candidate near-duplicates.

    The signature is cut into `bands` bands of len(sig) // bands rows (values
    left over are unused); two posts share a band's key when all its rows
    agree, which for Jaccard similarity s happens with probability s**rows.
    So the chance of sharing at least one key is 1 - (1 - s**rows)**bands.
    With the defaults, 21 bands of 3 rows:

        s       0.05    0.1    0.2    0.3    0.5    0.6    0.7    0.8
        P     0.003  0.021  0.155  0.437  0.939  0.994  0.9999  ~1

    Copies score >= 0.6, where a miss is 1 in 170; unrelated posts (s < 0.05)
    share a key about 1 time in 400 and only cost one comparison when they do.
    16 bands of 4 rows would find only 64% of pairs at 0.5 and 89% at 0.6.
    """
    if not sig:
        return ()
    rows = len(sig) // bands
    if rows < 1:
        raise ValueError(f"{len(sig)} values cannot make {bands} bands")
    packed = array("Q", sig[: rows * bands])
    if sys.byteorder == "big":
        packed.byteswap()
    raw = packed.tobytes()
    person = b"rows%d" % rows
    width = rows * 8
    return tuple(
        f"b{band:02d}:"
        + hashlib.blake2b(
            raw[band * width : (band + 1) * width], digest_size=8, person=person
        ).hexdigest()
        for band in range(bands)
    )


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
        signature=_minhash(hashes, NUM_PERM) if len(hashes) >= MIN_SHINGLES else (),
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


def sketch_feed(data: FeedData) -> FeedData:
    """The parsed entries with their MinHash signature and evidence link.

    Run in the parse worker, so the single writer only stores and compares.
    """
    entries = tuple(
        replace(
            e,
            minhash=signature(e.text),
            evidence_key=_own_evidence(evidence_url(e.content_html, e.url), e.url_key),
        )
        for e in data.entries
    )
    return replace(data, entries=entries)


def _own_evidence(evidence: str | None, url_key: str | None) -> str | None:
    return evidence if evidence != url_key else None


def pack(sig: Sequence[int]) -> bytes:
    """A signature as 8 little-endian bytes a value, for a BLOB column."""
    values = array("Q", sig)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def unpack(blob: bytes | None) -> tuple[int, ...]:
    if not blob:
        return ()
    values = array("Q", blob)
    if sys.byteorder == "big":
        values.byteswap()
    return tuple(values)
