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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from aggregator.analysis.bylines import credits, named_authors_agree, named_authors_differ
from aggregator.analysis.fingerprints import Fingerprint as Fingerprint  # re-exported
from aggregator.analysis.fingerprints import fingerprint as fingerprint
from aggregator.analysis.framing import framed
from aggregator.analysis.sketch import MIN_SHINGLES as MIN_SHINGLES
from aggregator.analysis.sketch import estimated_jaccard
from aggregator.analysis.titles import title_numbers as title_numbers
from aggregator.analysis.titles import title_stem as title_stem

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

# ... except a late repost (a team blog running a member's post three or nine
# months on, tests/test_copy_variations.py): beyond MAX_DAYS_APART the content
# rules still apply to two whole posts (neither cut as a teaser is) when the
# titles agree (up to a " – Blog name" suffix), at least LATE_CONTAINMENT of
# the shorter text's shingles are in the longer one's, the longer adds at most
# LATE_MAX_ADDED shingles of its own, and every number in the shorter text is
# in the longer. A repost with an intro, a note or a signature keeps all of the
# original (0.97-1.0 with headings and images re-rendered) and adds 10-70
# shingles; a copy reworked with a paragraph added (tests/test_similarity.py)
# adds over 100; next year's edition of an event or a job ad from one template
# keeps ~0.9 but moves its dates and years on; the same title over a different
# body (weeknotes, "Reflections on LocalGovCamp") keeps almost nothing.
# Teasers are published within days of their post, so they get no such grace.
LATE_CONTAINMENT = 0.95
LATE_MAX_ADDED = 80
# ... and only up to this many days apart: an annual post (an event, a
# report, gritting season) comes back under its title a year later, give or
# take a few weeks, and is the next edition, not a copy, however little of
# its template changed. Unless one post says it is the other's copy, or names
# the other's author in its intro or outro (`_signed`): a next edition does
# not credit someone else's blog, and a repost is one however late it comes.
LATE_MAX_DAYS = 300

# Minimum share of a teaser's shingles found in the longer post for
# "opening-of": a copy of the first paragraphs, cut mid-sentence, keeps
# ~0.97-1.0 (a retyped quote or a "Read more" link costs a shingle or two); a
# post quoting another's paragraph among its own words stays far below.
CONTAINMENT_THRESHOLD = 0.9

# "contained", whatever the titles: a post republished under a new title
# ("Guest post: ..."), with an intro line and a few light edits, keeps ~0.85-0.9
# of the shorter text's shingles in the longer one, while its Jaccard (the
# intro counts against it) falls to ~0.7, below the strict bar. Posts filled in
# from one template (job ads, procurement notices, an event two years apart)
# mostly share at most ~0.6 of their shingles, one quoting another's paragraph
# ~0.25; but a template with few blanks (two meetups, one place and time
# apart) keeps ~0.85, as much as a copy. So the rule also needs a sign of
# republication: both posts name one person as author, or one says it is a
# copy (`evidence.says_it_is_a_copy`: "Guest post: ...", "first appeared on").
CONTAINED_THRESHOLD = 0.8
# ... and only when the shorter text has this many shingles (~100 words), so
# that a short post that is mostly one quoted paragraph (a pledge, a press
# release's opening) is never "contained" in the post it quotes ...
MIN_CONTAINED_SHINGLES = 100
# ... and is at least this share of the longer one's: a copy with its intro
# and edits keeps most of the original (0.85-0.95 on the labelled set), while
# a section of a longer page republished on its own (0.1-0.15 in the demo), a
# teaser or a quotation is a small part of it. Teasers have their own rule.
MIN_CONTAINED_SHARE = 0.5

# Texts with fewer shingles than MIN_SHINGLES (sketch.py) get no signature and no
# shingles: in a 30-word note, one shared sentence is most of the text.

# --- the decision (Fingerprint and its constructor: fingerprints.py) -----------------


@dataclass(frozen=True)
class Match:
    """Why a post is a copy: the rule (stored as `duplicate_reason`) and its score."""

    # "same-url", "evidence", "same-content", "near-duplicate", "opening-of", "contained", "framed"
    rule: str
    score: float  # 1.0 for the exact rules, the Jaccard or containment for the others
    partial: int | None = None  # opening-of: the post_id that is only the other's opening


def duplicate_match(new: Fingerprint, old: Fingerprint) -> Match | None:
    """The first rule by which `new` and `old` are one post, or None.

    1. same-url: both link to one canonical URL. Even within a feed: one
       post listed twice. Not when the links point at different places within one page
       (`#fragment`) under different titles: those are sections, not copies.
    2. evidence: one claims to be a copy of the other's URL, or both claim
       the same original (a Medium copy and a team-blog copy of a post whose
       own blog is not in Voice).
    3. same-content: identical title and text, with a strong (`c:`) content key.
    4. near-duplicate: Jaccard of the texts >= NEAR_DUPLICATE_THRESHOLD,
       or >= STRICT_THRESHOLD when titles differ or two different named authors
       are given; never between two posts of one feed, since a blog does not
       cross-post to itself, and its posts share boilerplate.
    5. opening-of: the shorter text is the opening of the longer (an
       aggregator's teaser, or an excerpt-only feed's entry beside the full
       text at a blog's new address): at least CONTAINMENT_THRESHOLD of its
       shingles are in the longer one's, and its title less a " – Blog name"
       suffix is the longer one's title, or its title is and its text is cut
       ("[…]", "Read more"). Both need MIN_SHINGLES shingles; not within a feed.
    6. contained: whatever the titles, at least CONTAINED_THRESHOLD of the
       shorter text's shingles are in the longer one's, it has at least
       MIN_CONTAINED_SHINGLES and at least MIN_CONTAINED_SHARE as many as the
       longer (not a section or a quotation of a longer post), and both
       name one person as author or one says it is a copy (a guest post
       under a new title, with an intro and light edits); not within a feed.

    Rules 3 to 8 are off when the titles carry different numbers (Weeknotes
    12 and 13, part 1 and 2) or the posts are more than MAX_DAYS_APART apart,
    unless they are a whole repost up to LATE_MAX_DAYS late (`_late_copy`,
    `_framed`), or later still when one says it is a copy or credits the
    other's author (`_signed`).
    7. contained, too, when the longer post is the shorter under its title
       with a " – Blog name" suffix and holds at least CONTAINMENT_THRESHOLD
       of it (a short original reposted with an intro). A teaser shorter
       than MIN_SHINGLES is compared by opening-of only.
    8. framed: the whole of one text is in the other, which adds only
       before and after it (an intro of a paragraph or two, an outro, a bio),
       with light edits at most and the same numbers inside (`framing`),
       and a sign of republication or one title (`_framed`).
    A newsletter's issue label is not the post's number: "Issue 4: Title"
    and "Title" carry the same numbers (`_relabelled`). A headline of its
    own that lost the original's number is compared by framed only
    (`_retitled`).
    The decision is symmetric: swapping new and old gives the same Match.
    """
    if new.post_id == old.post_id:
        return None
    if (
        new.url_key is not None
        and new.url_key == old.url_key
        and (new.url_fragment == old.url_fragment or new.title_key == old.title_key)
    ):
        return Match("same-url", 1.0)
    if (new.evidence_key is not None and new.evidence_key in (old.url_key, old.evidence_key)) or (
        old.evidence_key is not None and old.evidence_key == new.url_key
    ):
        return Match("evidence", 1.0)
    renumbered = new.title_numbers != old.title_numbers and not _relabelled(new, old)
    if renumbered and not _retitled(new, old):
        return None
    apart = abs(new.published - old.published)
    if apart > timedelta(days=MAX_DAYS_APART) and not (
        (apart <= timedelta(days=LATE_MAX_DAYS) or _signed(new, old))
        and (_late_copy(new, old) or _framed(new, old))
    ):
        return None
    if new.content_key.startswith("c:") and new.content_key == old.content_key:
        return Match("same-content", 1.0)
    if new.feed_id == old.feed_id:
        return None
    if renumbered:  # a headline of its own, without the original's number: only framed
        return _framed(new, old)
    if _too_short(new) or _too_short(old):  # a short teaser: only opening-of compares it
        return _opening_of(new, old)
    score = (
        _jaccard(new.shingle_set, old.shingle_set)
        if new.shingle_set and old.shingle_set
        else estimated_jaccard(new.signature, old.signature)
    )
    strict = new.title_key != old.title_key or named_authors_differ(new.author, old.author)
    if score >= (STRICT_THRESHOLD if strict else NEAR_DUPLICATE_THRESHOLD):
        return Match("near-duplicate", score)
    return (
        _opening_of(new, old)
        or _contained(new, old)
        or _within_suffixed(new, old)
        or _framed(new, old)
    )


def _relabelled(a: Fingerprint, b: Fingerprint) -> bool:
    """One title is the other under a label: "Issue 4: Title" or "Guest post: Title" and "Title"."""
    return a.title_unlabelled_key == b.title_key or b.title_unlabelled_key == a.title_key


def _retitled(a: Fingerprint, b: Fingerprint) -> bool:
    """One title has numbers, the other none and is not the first less them.

    "Weeknotes" and "Weeknotes 13", "Title" and "Title, part 2" are a
    series; "Issue 4: what my casework says about the website" run under a
    headline of the team's own is not, and only `_framed` may match it.
    """
    if bool(a.title_numbers) == bool(b.title_numbers):
        return False
    plain, numbered = (b, a) if a.title_numbers else (a, b)
    return not plain.title_words <= numbered.title_words


def _framed(a: Fingerprint, b: Fingerprint) -> Match | None:
    """Match("framed") when one whole text is in the other, which adds only at its edges.

    `framing.framed` reads the texts in order. The sign of republication is
    "contained"'s or the titles agreeing (a team account under the post's
    own title), and never two different named authors unless one says it
    is a copy or credits the other's author by name (`_signed`: a team blog
    running a member's post under its editor's byline). Not a teaser: a
    cut text is an opening, and "opening-of" marks it so that it never
    leads its cluster.
    """
    if a.cut or b.cut:
        return None
    if not (
        _signed(a, b)
        or (
            not named_authors_differ(a.author, b.author)
            and (named_authors_agree(a.author, b.author) or _titles_agree(a, b))
        )
    ):
        return None
    score = framed(a.shingle_seq, a.text_words, b.shingle_seq, b.text_words)
    return Match("framed", score) if score is not None else None


def _signed(a: Fingerprint, b: Fingerprint) -> bool:
    """One says it is a copy, or credits the other's author by name in its intro or outro."""
    if a.says_copy or b.says_copy:
        return True
    return credits(a.edge_words, b.author) or credits(b.edge_words, a.author)


def _too_short(fp: Fingerprint) -> bool:
    """A teaser below MIN_SHINGLES (sketch.MIN_TEASER_SHINGLES): compared as an opening only."""
    return 0 < len(fp.shingle_set) < MIN_SHINGLES


def _titles_agree(a: Fingerprint, b: Fingerprint) -> bool:
    """One title, or one is the other with a " – Blog name" suffix."""
    return b.title_key in (a.title_key, a.title_stem_key) or a.title_key == b.title_stem_key


def _containment(a: Fingerprint, b: Fingerprint) -> float:
    """The share of the shorter text's shingles found in the longer one's."""
    smaller = min(len(a.shingle_set), len(b.shingle_set))
    return len(a.shingle_set & b.shingle_set) / smaller if smaller else 0.0


def _late_copy(a: Fingerprint, b: Fingerprint) -> bool:
    """A whole repost months later: one title, the shorter text, its numbers, little added."""
    if a.cut or b.cut or not _titles_agree(a, b) or _containment(a, b) < LATE_CONTAINMENT:
        return False
    short, full = (a, b) if len(a.shingle_set) < len(b.shingle_set) else (b, a)
    added = len(full.shingle_set - short.shingle_set)
    return added <= LATE_MAX_ADDED and short.text_numbers <= full.text_numbers


def _within_suffixed(a: Fingerprint, b: Fingerprint) -> Match | None:
    """Match("contained") when the longer post is the shorter under "Title – Blog name".

    A short original reposted with an intro, a signature and the blog's name
    on its title: the intro counts against its Jaccard, it is too short for
    "contained", and it is the original, not a teaser, so not "opening-of".
    The suffix is the sign of republication; the whole shorter text must be
    in the longer, and be at least MIN_CONTAINED_SHARE of it.
    """
    if not a.shingle_set or not b.shingle_set:
        return None
    short, full = (a, b) if len(a.shingle_set) < len(b.shingle_set) else (b, a)
    if full.title_stem_key != short.title_key or len(short.shingle_set) < (
        MIN_CONTAINED_SHARE * len(full.shingle_set)
    ):
        return None
    contained = _containment(a, b)
    return Match("contained", contained) if contained >= CONTAINMENT_THRESHOLD else None


def _opening_of(a: Fingerprint, b: Fingerprint) -> Match | None:
    """Match("opening-of") when the shorter of two posts is the other's teaser."""
    if not a.shingle_set or not b.shingle_set or len(a.shingle_set) == len(b.shingle_set):
        return None
    short, full = (a, b) if len(a.shingle_set) < len(b.shingle_set) else (b, a)
    if full.title_key != short.title_stem_key and not (
        short.cut and full.title_key == short.title_key
    ):
        return None
    contained = len(short.shingle_set & full.shingle_set) / len(short.shingle_set)
    if contained >= CONTAINMENT_THRESHOLD:
        return Match("opening-of", contained, partial=short.post_id)
    return None


def _contained(a: Fingerprint, b: Fingerprint) -> Match | None:
    """Match("contained") when the shorter text is almost all in the longer, whatever the titles.

    Not a teaser (no `partial`): the shorter may be the original and the
    longer its copy with an intro line added.
    """
    smaller, larger = sorted((len(a.shingle_set), len(b.shingle_set)))
    if smaller < MIN_CONTAINED_SHINGLES or smaller < MIN_CONTAINED_SHARE * larger:
        return None
    if not (a.says_copy or b.says_copy or named_authors_agree(a.author, b.author)):
        return None
    contained = len(a.shingle_set & b.shingle_set) / smaller
    return Match("contained", contained) if contained >= CONTAINED_THRESHOLD else None


def _jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def choose_canonical(cluster: Sequence[Fingerprint], partial: Sequence[int] = ()) -> int:
    """The post_id readers see for a cluster of copies.

    The member's own blog where it is in the cluster (it is theirs, and where
    comments and corrections happen), otherwise a whole post rather than one
    known to be only another's opening (`partial`, from Match.partial), and
    of those the earliest published: the others copy it. Ties go to the
    lowest post_id, the first stored, so the choice does not depend on the
    order posts arrive in.
    """
    if not cluster:
        raise ValueError("an empty cluster has no canonical post")
    own = [fp for fp in cluster if fp.own_blog]
    whole = [fp for fp in cluster if fp.post_id not in partial]
    return min(own or whole or cluster, key=lambda fp: (fp.published, fp.post_id)).post_id


RULES_CODE = "1"  # bump when the rules' code changes what they decide


def rules_version() -> str:
    """What a research release names as its duplicate rules: a hash of every threshold
    here and in framing, the sketch's parameters and RULES_CODE, so a changed
    parameter can never keep an old name."""
    import hashlib

    from aggregator.analysis import framing, hashing, sketch

    def numbers(names: dict[str, object]) -> list[object]:
        return [v for k, v in sorted(names.items()) if k.isupper() and type(v) in (int, float)]

    parameters = [RULES_CODE, sketch.SHINGLE_SIZE, sketch.NUM_PERM, sketch.BANDS, hashing.SEED]
    parameters += [sketch.MIN_SHINGLES, sketch.MIN_TEASER_SHINGLES]
    parameters += numbers(vars(framing)) + numbers(globals())
    return "dedupe-" + hashlib.sha256(repr(parameters).encode()).hexdigest()[:12]
