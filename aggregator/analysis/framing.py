"""Is one text the other with new edges? Where two posts agree, not only how much. Pure.

A repost puts things around the original: an intro of a sentence or two
paragraphs, an outro, the author's bio, a signature. Set measures (Jaccard,
containment) count all of that against the copy, so a short post with a
paragraph of intro and a bio falls below every bar, while a look-alike from
a template (weeknote N+1, next year's event, two meetups) scores as high as
a copy. Order tells them apart: a repost keeps the original as one block,
with at most light edits inside it (a word cut, "didn't" spelt out, a
caption), and adds only before and after it; a template keeps its
boilerplate and changes the middle (a new week's body, another place and
time, next year's dates).

`framed` measures that from the shingles in order (`sketch.post_sequence`):
the core is the span of the longer text from its first to its last shingle
shared with the shorter; inside it, each text may differ from the other
only in short runs (light edits), and the numbers inside the cores must be
the same (next year's edition moves its dates and years).
"""

from __future__ import annotations

from collections.abc import Sequence

from aggregator.analysis.sketch import SHINGLE_SIZE

# At least this share of the shorter text's shingles is in the longer one's:
# a repost keeps all of the original (1.0), or 0.85-0.95 with a few words
# edited in several places. Whatever the shorter text leaves out counts
# against it, wherever it is: a shared opening (weeknotes' boilerplate intro)
# over different bodies is not a copy with its end dropped.
FRAMED_CONTAINMENT = 0.8
# The shared shingles are at least this many (~100 words), as for "contained":
# in a short note, one quoted paragraph is most of the text ...
FRAMED_MIN_CORE = 100
# ... and at least this share of the longer text: a short post under an
# intro of two paragraphs and a bio keeps 0.44-0.6; a post quoting another's
# paragraph, or a section of a long page, far less.
FRAMED_MIN_SHARE = 0.4
# Inside the core, a run of n shingles of one text that are not in the other
# is about n - 4 changed words. A word cut or a contraction spelt out makes
# runs of 5-6, a new caption 11; a template's blanks side by side ("When:
# ... Where: ... Hosted by ...") 20, a new week's paragraph or a sentence
# added to a reworked copy 27-35.
FRAMED_MAX_RUN = 14
# ... and at most this share of either core is such edits (0.16 at most for
# light edits in every second paragraph of a 200-word post).
FRAMED_MAX_EDITED = 0.2


def framed(
    a: Sequence[int], a_words: Sequence[str], b: Sequence[int], b_words: Sequence[str]
) -> float | None:
    """The containment of the shorter text in the longer when the longer frames it, else None.

    `a` and `b` are two posts' shingles in order, `a_words` and `b_words`
    the words they are made of (`sketch.post_sequence`).
    """
    set_a, set_b = frozenset(a), frozenset(b)
    shared = len(set_a & set_b)
    smaller, larger = sorted((len(set_a), len(set_b)))
    if not smaller or shared < FRAMED_MIN_CORE or shared < FRAMED_MIN_SHARE * larger:
        return None
    contained = shared / smaller
    if contained < FRAMED_CONTAINMENT:
        return None
    core_a, core_b = _core(a, a_words, set_b), _core(b, b_words, set_a)
    if core_a is None or core_b is None or core_a != core_b:
        return None  # a run too long or too many edits (`_core`), or other numbers
    return contained


def _core(
    seq: Sequence[int], text_words: Sequence[str], other: frozenset[int]
) -> frozenset[str] | None:
    """The numbers in the span of `seq` shared with `other`, or None if it is edited too much."""
    shared = [i for i, shingle in enumerate(seq) if shingle in other]
    first, last = shared[0], shared[-1]
    run = longest = 0
    edited: set[int] = set()
    for shingle in seq[first : last + 1]:
        if shingle in other:
            run = 0
            continue
        run += 1
        longest = max(longest, run)
        edited.add(shingle)
    span = len(set(seq[first : last + 1]))
    if longest > FRAMED_MAX_RUN or len(edited) > FRAMED_MAX_EDITED * span:
        return None
    return frozenset(w for w in text_words[first : last + SHINGLE_SIZE] if w.isdigit())
