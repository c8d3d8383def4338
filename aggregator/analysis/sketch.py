"""The per-post sketch for near-duplicates: shingles, a MinHash signature, LSH keys.

Comparing a new post with every stored post does not scale, so near-duplicate
candidates come from the LSH `band_keys` of a MinHash `signature` (table
`post_lsh`); `sketch_feed` computes the signature and the evidence link in
the parse worker, so the single writer only stores and compares. Signatures
and band keys depend only on the text and the constants here, never on the
process (no salted `hash()`, no random state), so `voice dedupe --rebuild`
and incremental processing find the same candidates. Changing SHINGLE_SIZE,
NUM_PERM, BANDS or `hashing`'s seed changes every key: rebuild `post_lsh` after
doing so.
"""

from __future__ import annotations

import hashlib
import re
import sys
from array import array
from collections.abc import Sequence
from dataclasses import replace
from functools import cache

from aggregator.analysis.evidence import evidence_url
from aggregator.analysis.hashing import Hashes, distinct, minhash, run_hashes, word_lanes
from aggregator.analysis.identity import title_key, words
from aggregator.analysis.titles import title_stem, title_unlabelled
from aggregator.models import FeedData

# --- MinHash and LSH shape ------------------------------------------------------

SHINGLE_SIZE = 5  # words: long enough that shared stock phrases rarely make a shingle
NUM_PERM = 64  # standard error of estimated_jaccard is sqrt(J(1-J)/64): 0.06 at 0.6
BANDS = 21  # of 3 rows each (63 of the 64 values); see band_keys for the S-curve

# Texts with fewer shingles than this get no signature and no shingles to
# compare: in a 30-word note, one shared sentence is most of the text. Exact
# copies still match by content key. Applied by post_shingles, the one place
# that says what of a post's text is compared (`signature` and
# similarity.fingerprint both start from it).
MIN_SHINGLES = 30
# ... except a teaser (the text ends "[…]", "Read more"): a round-up that cuts
# a post after its first paragraph may keep only 14 words of it, and the
# "opening-of" rule, which needs the title to agree and the whole teaser in
# the longer post, is the only rule that compares a text this short.
MIN_TEASER_SHINGLES = 10

# What a teaser adds after the opening it copies: "[…]", "Read more",
# "Continue reading", WordPress's "The post X appeared first on Y.", or a last
# line naming where to read on ("Read more on The Front Counter · originally
# from Y", "Continue reading at Z"). None of it is in the original, so it
# would only lower the containment of the copy. The named form must start a
# line and name a place ("on", "at"): "Read more about the pledge on our
# website." ending a whole post is the post's own words.
_TEASER_TAIL = re.compile(
    r"(?:\s*(?:\[?(?:\u2026|\.\.\.)\]?|read more|continue reading|read the full (?:post|article)"
    r"|(?<![^\n])(?:read more|continue reading|read the full (?:post|article|story))"
    r"\s+(?:on|at)\s+[^\n]{1,150}"
    r"|the post .{1,300}? appeared first on .{1,200}?)[\s.:\u00bb\u203a\u2192>]*)+\Z",
    re.IGNORECASE | re.DOTALL,
)


def shingles(text: str, k: int = SHINGLE_SIZE) -> frozenset[int]:
    """Hashes of every run of `k` consecutive words, the unit of near-duplicate similarity.

    Words are dedupe's (case, punctuation and Unicode forms ignored), so a copy
    that only re-typesets quotes and dashes has the same shingles. Runs of
    words rather than single words, so that two posts on one subject, which
    share a vocabulary, do not look alike. A text shorter than `k` words is
    one shingle. Each word is hashed once (blake2b, cached: blog words repeat)
    and a run's hash is CPython's 64-bit tuple hash of its words' hashes,
    computed for all runs at once with numpy (`hashing.run_hashes`): several times
    faster than hashing each run's text, and the same in every process.
    """
    return frozenset(_runs(words(text), k))


def _runs(w: list[str], k: int) -> list[int]:
    """The shingles of a word list, in the order they occur (`shingles`)."""
    return run_hashes(word_lanes(w), k).tolist()


def post_shingles(text: str) -> frozenset[int]:
    """The shingles deduplication compares for a post: none below MIN_SHINGLES.

    A teaser's tail ("[…] Continue reading") is left out first, so a copy of
    a post's opening has only shingles of the original. A cut text keeps
    its shingles from MIN_TEASER_SHINGLES.
    """
    return frozenset(post_sequence(text)[0])


def post_sequence(text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """`post_shingles` in the order they occur, and the words they are made of.

    Shingle i covers words i to i + SHINGLE_SIZE - 1, so a rule can say where
    in a post two texts agree (`framing`), not only how much. Both are empty
    when `post_shingles` is.
    """
    kept = _compared(text)
    return ((), ()) if kept is None else (tuple(kept[1].tolist()), tuple(kept[0]))


def _compared(text: str) -> tuple[list[str], Hashes] | None:
    """The words of the text `post_shingles` compares and their shingles, or None if too few."""
    start = _tail_start(text)
    kept = text if start is None else text[:start]
    w = words(kept)
    runs = run_hashes(word_lanes(w), SHINGLE_SIZE)
    different = distinct(runs)
    if different >= MIN_SHINGLES or (different >= MIN_TEASER_SHINGLES and len(kept) < len(text)):
        return w, runs
    return None


def is_cut(text: str) -> bool:
    """Does the text end as an excerpt does ("[…]", "Read more", "Continue reading")?"""
    return _tail_start(text) is not None


# Every match of _TEASER_TAIL holds one of these (lower-cased), preceded in its
# first part only by spaces and "[". Finding the first of them with str.find
# lets the regular expression start there instead of at every character: it
# costs a tenth as much on a 3 KB post, with the same match (the lookbehind
# still sees the characters before the starting position).
_TAIL_WORDS = ("\u2026", "...", "read more", "continue reading", "read the full", "the post")
# Characters IGNORECASE matches with an ASCII letter that str.lower() does not
# turn into one ("İ" even becomes two characters): text holding any of them
# is searched from its start, as before.
_ODD_CASES = re.compile("[\u0130\u0131\u017f]")


def _tail_start(text: str) -> int | None:
    """Where `_TEASER_TAIL` matches in `text` (the same as its `search`), or None."""
    if _ODD_CASES.search(text):
        match = _TEASER_TAIL.search(text)
        return None if match is None else match.start()
    low = text.lower()
    found = [i for i in (low.find(word) for word in _TAIL_WORDS) if i >= 0]
    if not found:
        return None
    pos = min(found)
    while pos and (text[pos - 1] == "[" or text[pos - 1].isspace()):
        pos -= 1
    match = _TEASER_TAIL.search(text, pos)
    return None if match is None else match.start()


def signature(text: str, num_perm: int = NUM_PERM) -> tuple[int, ...]:
    """MinHash signature of a post's `post_shingles`; () when it has too few to compare.

    The share of positions where two signatures agree estimates the Jaccard
    similarity of the two shingle sets (`estimated_jaccard`), in a fixed size
    whatever the length of the post.
    """
    kept = _compared(text)
    return () if kept is None else minhash(kept[1], num_perm)


def estimated_jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures.

    0.0 if either is empty: a text too short to compare resembles nothing.
    """
    if not a or not b:
        return 0.0
    if len(a) != len(b):
        raise ValueError(f"signatures of different lengths ({len(a)}, {len(b)}) do not compare")
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def band_keys(sig: Sequence[int], bands: int = BANDS) -> tuple[int, ...]:
    """LSH keys: posts sharing any key are candidate near-duplicates.

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

    A key is an integer in [0, 2**63), what `post_lsh.band` stores (an
    integer row is a third the size of the text key it replaced, 0012): the
    band's number above its 8-byte blake2b digest (big-endian) less the
    digest's six lowest bits, so no two bands share a key.
    """
    if not sig:
        return ()
    rows = len(sig) // bands
    if rows < 1:
        raise ValueError(f"{len(sig)} values cannot make {bands} bands")
    if bands > 32:
        raise ValueError(f"{bands} bands do not fit five bits of a key")
    packed = array("Q", sig[: rows * bands])
    if sys.byteorder == "big":
        packed.byteswap()
    raw = packed.tobytes()
    width = rows * 8
    start = _band_hasher(rows)
    keys = []
    for band in range(bands):
        hasher = start.copy()  # a third cheaper than a new personalised blake2b
        hasher.update(raw[band * width : (band + 1) * width])
        keys.append(band << _BAND_SHIFT | int.from_bytes(hasher.digest(), "big") >> 6)
    return tuple(keys)


_BAND_SHIFT = 58


@cache
def _band_hasher(rows: int) -> hashlib._Hash:
    """blake2b personalised for bands of `rows` rows, with nothing hashed yet."""
    return hashlib.blake2b(digest_size=8, person=b"rows%d" % rows)


def title_band(key: str) -> int:
    """A title key (`identity.title_key`, "t:" + sha256 hex) as a `post_lsh` key.

    Negative, so it never equals a band key and a query can tell the two
    apart by sign: -1 minus the first 63 bits of the digest.
    """
    return -1 - (int(key[2:18], 16) >> 1)


def lsh_keys(title: str, signature: Sequence[int]) -> tuple[int, ...]:
    """The keys a post is indexed under in `post_lsh`: its band keys and title keys.

    A teaser shares too little of the original for a band key, so the title
    keys (its own, its stem's and its unlabelled title's) are the route to
    "opening-of" candidates, and to a short post reposted as "Guest post:
    Title" under two paragraphs of intro and a bio (Jaccard ~0.45, which
    shares a band only four times in five). Only a post with a signature,
    i.e. enough shingles to compare, is indexed. Computed in the parse worker
    (`sketch_feed`), so the writer only inserts them.
    """
    if not signature:
        return ()
    titles = [title_key(title)]
    titles += [title_key(other) for other in (title_stem(title), title_unlabelled(title)) if other]
    return band_keys(signature) + tuple(dict.fromkeys(title_band(t) for t in titles))


def sketch_feed(data: FeedData) -> FeedData:
    """The parsed entries with their MinHash signature, evidence link and LSH keys.

    Run in the parse worker, so the single writer only stores and compares.
    """
    entries = []
    for e in data.entries:
        sig = signature(e.text)
        entries.append(
            replace(
                e,
                minhash=sig,
                evidence_key=_own_evidence(evidence_url(e.content_html, e.url), e.url_key),
                lsh_keys=lsh_keys(e.title, sig),
            )
        )
    return replace(data, entries=tuple(entries))


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
