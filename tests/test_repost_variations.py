"""Reposts that differ more than tests/test_copy_variations.py's, alone and combined.

The same development originals (never the held-out part), the same real
fetch cycle and the same delays, with what cross-posting sites also do: a
whole paragraph or two of intro before the post, an intro and an outro
under a new title ("Guest post: ...", or a headline of the team's own), the
text lightly edited in several places, the author's bio appended, the last
paragraph dropped, paragraphs run together and list items retyped as lines;
and short originals (120-200 words), where an intro is a large share of the
copy. The look-alikes of tests/test_copy_variations.py must still stay apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.parsing.pool import ParsePool
from tests.support.feedserver import FeedServer
from tests.test_copy_variations import (
    DELAYS,
    EDITORS_NOTE,
    INTRO_CLAIM,
    INTRO_COLLEAGUE,
    MEMBER,
    ORIGINALS,
    SIGNATURE,
    TEAM_BLOG,
    Item,
    Original,
    canonical_of,
    fresh_copy,
    intro,
    paragraphs,
    retyped,
    rss,
    run,
    side_by_side,
    suffixed,
)

# --- the ways a repost differs, beyond tests/test_copy_variations.py ------------------------

INTRO_PARAGRAPH = intro(
    "Every few weeks we share a post from someone in the regional network that we think "
    "deserves a wider audience. This one comes from {author}, who has spent the last year "
    "working with teams across the county on exactly this kind of problem. We asked if we "
    "could run it here because so much of it matches what we hear from our own services. "
    "We've left it as it was written, apart from the odd heading. Let us know what you "
    "think in the comments, or come and find us at the next meetup."
)
INTRO_SECOND = intro(
    "If you're new to the blog, we're the digital team at Brackenford Council: eleven of "
    "us, looking after the website, the forms behind it and the people who use them. We "
    "write about our own work most weeks, and now and then we hand the blog over to a "
    "friend."
)
OUTRO = intro(
    "Thanks again to {author} for letting us share this. If you have a post you'd like "
    "to see here, or a reply to this one, email the digital team and we'll be in touch."
)
BIO = intro(
    "About the author: {author} works in local government and writes at {blog}. They "
    "have spent most of their career in council services, first on the phones and then "
    "on the website, and they speak at meetups about research, content and the slow "
    "work of changing how a council thinks. They are always happy to talk over a coffee."
)


def first_name(o: Original) -> str:
    return o.author.split()[0].capitalize()


def guest_post(o: Original) -> str:
    return f"Guest post: {o.title}"


def new_headline(o: Original) -> str:
    """A headline of the team's own, sharing no word with the original's."""
    return f"From the network: what {first_name(o)} wants every council to hear"


_CONTRACTION = re.compile(r"\b(\w+)(n't|'re|'ve|'ll|'m)\b")
_EXPANDED = {"n't": " not", "'re": " are", "'ve": " have", "'ll": " will", "'m": " am"}


_LOWER_WORD = re.compile(r"(?<=[\s>])[a-z]+ ")  # a word of text, not a tag's or a number


def edited(body: str) -> str:
    """An editor's light touch in several places: in every second paragraph, one
    contraction spelt out ("didn't" -> "did not"), or else its third word cut."""
    parts = paragraphs(body)
    for i in range(1, len(parts), 2):
        text = parts[i].replace("\u2019", "'")
        if _CONTRACTION.search(text):
            parts[i] = _CONTRACTION.sub(lambda m: m.group(1) + _EXPANDED[m.group(2)], text, 1)
        elif len(found := list(_LOWER_WORD.finditer(text))) > 2:
            parts[i] = text[: found[2].start()] + text[found[2].end() :]
    return "\n".join(parts)


def last_paragraph_dropped(body: str) -> str:
    return "\n".join(paragraphs(body)[:-1])


def rewrapped(body: str) -> str:
    """A platform that loses paragraph breaks and lists: pairs of paragraphs run
    together, list items become lines starting with a bullet."""
    body = re.sub(r"</?(?:ul|ol)\b[^>]*>", "", body)
    body = re.sub(r"<li\b[^>]*>(.*?)</li>", "<p>\u2022 \\1</p>", body, flags=re.DOTALL)
    body = re.sub(r"</p>\s*<p\b[^>]*>", " ", body, count=3)
    return re.sub(r"</h[1-6]>\s*<p\b[^>]*>", ": ", re.sub(r"<h[1-6]\b[^>]*>", "<p>", body))


@dataclass(frozen=True)
class Variation:
    name: str
    body: Callable[[Original], str]
    title: Callable[[Original], str] = lambda o: o.title
    author: Callable[[Original], str] = lambda o: o.author


def team(o: Original) -> str:
    return "Digital team"


VARIATIONS = [
    Variation("intro-paragraph", lambda o: INTRO_PARAGRAPH(o) + o.html),
    Variation("intro-two-paragraphs", lambda o: INTRO_PARAGRAPH(o) + INTRO_SECOND(o) + o.html),
    Variation("intro-paragraph-team-account", lambda o: INTRO_PARAGRAPH(o) + o.html, author=team),
    Variation("intro-outro-suffix", lambda o: INTRO_COLLEAGUE(o) + o.html + OUTRO(o),
              title=suffixed),
    Variation("guest-post-intro-paragraph", lambda o: INTRO_PARAGRAPH(o) + o.html,
              title=guest_post),
    Variation("guest-post-team-account", lambda o: INTRO_COLLEAGUE(o) + o.html + OUTRO(o),
              title=guest_post, author=team),
    Variation("new-headline-intro", lambda o: INTRO_COLLEAGUE(o) + o.html, title=new_headline),
    Variation("new-headline-intro-outro", lambda o: INTRO_PARAGRAPH(o) + o.html + OUTRO(o),
              title=new_headline),
    Variation("edited-intro", lambda o: INTRO_COLLEAGUE(o) + edited(o.html)),
    Variation("edited-intro-claim-suffix", lambda o: INTRO_CLAIM(o) + edited(retyped(o.html)),
              title=suffixed),
    Variation("bio-appended", lambda o: o.html + BIO(o)),
    Variation("intro-bio", lambda o: INTRO_PARAGRAPH(o) + o.html + BIO(o)),
    Variation("last-paragraph-dropped", lambda o: last_paragraph_dropped(o.html)),
    Variation("last-paragraph-dropped-intro-note",
              lambda o: INTRO_COLLEAGUE(o) + last_paragraph_dropped(o.html) + EDITORS_NOTE(o)),
    Variation("rewrapped", lambda o: rewrapped(o.html)),
    Variation("rewrapped-intro-signature",
              lambda o: INTRO_COLLEAGUE(o) + rewrapped(o.html) + SIGNATURE(o), title=suffixed),
    Variation("everything", lambda o: INTRO_PARAGRAPH(o) + edited(rewrapped(o.html)) + BIO(o),
              title=guest_post, author=team),
]  # fmt: skip


def short_original(o: Original) -> Original:
    """The post cut to its first whole paragraphs, 120-200 words: a short post of its own."""
    kept: list[str] = []
    count = 0
    for p in paragraphs(o.html):
        n = len(re.sub(r"<[^>]+>", " ", p).split())
        if count + n > 200:
            break
        kept.append(p)
        count += n
    return replace(o, html="\n".join(kept))


def _short_words(o: Original) -> int:
    return len(re.sub(r"<[^>]+>", " ", o.html).split())


SHORT = [s for o in ORIGINALS if not o.excerpt and _short_words(s := short_original(o)) >= 120]
SHORT_VARIATIONS = [
    Variation("short-intro-colleague", lambda o: INTRO_COLLEAGUE(o) + o.html),
    Variation("short-intro-paragraph", lambda o: INTRO_PARAGRAPH(o) + o.html),
    Variation("short-intro-paragraph-team", lambda o: INTRO_PARAGRAPH(o) + o.html, author=team),
    Variation("short-intro-outro-suffix", lambda o: INTRO_COLLEAGUE(o) + o.html + OUTRO(o),
              title=suffixed),
    Variation("short-guest-post-bio", lambda o: INTRO_COLLEAGUE(o) + o.html + BIO(o),
              title=guest_post),
    Variation("short-edited-intro", lambda o: INTRO_COLLEAGUE(o) + edited(o.html)),
]  # fmt: skip


# Known limit, kept for precision: a copy that drops a long last paragraph
# (a sixth of the post or more) and adds an intro and a note keeps under 0.8
# of the original, and a shared opening over two different endings (weeknotes'
# boilerplate intro) looks the same. 3 of the 64 posts are missed, 5 months on.
# Only those may be missed: every post with a shorter ending is still linked.
LIMITS = {"last-paragraph-dropped-intro-note"}
LONG_ENDING = 1 / 6  # of the post's words in its last paragraph


def ending_share(o: Original) -> float:
    """How much of the post its last paragraph is, in words."""
    sizes = [len(re.sub(r"<[^>]+>", " ", p).split()) for p in paragraphs(o.html)]
    return sizes[-1] / max(1, sum(sizes))


def _cases(variations: list[Variation], short: bool) -> list[object]:
    return [
        pytest.param(v, delay, short, id=f"{v.name}-{delay}")
        for v in variations
        for delay in DELAYS
    ]  # fmt: skip


CASES = _cases(VARIATIONS, False) + _cases(SHORT_VARIATIONS, True)


# --- the store ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> object:
    root = tmp_path_factory.mktemp("reposts")
    with FeedServer(root) as server:
        yield root, server


def _store(site: tuple[Path, FeedServer], pool: ParsePool, originals: list[Original],
           name: str) -> Path:  # fmt: skip
    root, server = site
    items = [Item(o.guid, o.url, o.title, o.author, o.published, o.html) for o in originals]
    (root / name).write_bytes(rss(items, "Members' blogs"))
    db = root / f"{name}.db"
    run(db, pool, server, name, own_blog=True)
    return db


@pytest.fixture(scope="module")
def member_dbs(site: tuple[Path, FeedServer], pool: ParsePool) -> dict[bool, Path]:
    """Stores of the whole originals (False) and of the short ones (True)."""
    whole = [o for o in ORIGINALS if not o.excerpt]  # a repost months on is of a whole post
    return {False: _store(site, pool, whole, MEMBER), True: _store(site, pool, SHORT, "short.rss")}


@pytest.mark.parametrize(("variation", "delay", "short"), CASES)
def test_a_repost_that_differs_more_is_linked_to_its_original(
    site: tuple[Path, FeedServer], pool: ParsePool, member_dbs: dict[bool, Path],
    tmp_path: Path, variation: Variation, delay: str, short: bool,
) -> None:  # fmt: skip
    root, server = site
    originals = SHORT if short else [o for o in ORIGINALS if not o.excerpt]
    items = [
        Item(
            guid=f"repost-{i}",
            url=f"https://team.example.gov.uk/{variation.name}/{delay}/{i}/",
            title=variation.title(o),
            author=variation.author(o),
            published=o.published + timedelta(days=DELAYS[delay], hours=3),
            html=variation.body(o),
        )
        for i, o in enumerate(originals)
    ]
    name = f"{variation.name}-{delay}.rss"
    (root / name).write_bytes(rss(items, TEAM_BLOG))
    db = fresh_copy(member_dbs[short], tmp_path / "voice.db")
    run(db, pool, server, name, own_blog=False)
    found = canonical_of(db)
    missed = [o for i, o in enumerate(originals) if found[f"repost-{i}"] != o.guid]
    if variation.name in LIMITS:  # the known limit: only a long ending dropped is missed
        missed = [o for o in missed if ending_share(o) < LONG_ENDING]
    assert [o.title for o in missed] == [], f"{len(missed)} of {len(originals)} missed"
    assert all(found[o.guid] is None for o in originals)  # the member's own post leads


# --- look-alikes that a looser reading of "framed" would merge ---------------------------


def _opening_over_new_ending(o: Original, other: Original) -> str:
    """The post's first half, then another post less its opening: a shared opening, a new body."""
    own = paragraphs(o.html)
    return "\n".join(own[: len(own) // 2] + paragraphs(other.html)[1:])


def _quoted_in_a_longer_post(o: Original, others: list[Original]) -> str:
    """The whole short post quoted inside commentary three times its length."""
    before = "\n".join(paragraphs(others[0].html))
    after = "\n".join(paragraphs(others[1].html) + paragraphs(others[2].html))
    return f"{before}\n<blockquote>{o.html}</blockquote>\n{after}"


def lookalikes() -> list[tuple[str, Original, Item]]:
    cases = []
    whole = [o for o in ORIGINALS if not o.excerpt]
    for i in range(0, 60, 6):
        o, other = whole[i], whole[(i + 7) % len(whole)]
        for name, days in [("same-opening-new-body", 14), ("same-opening-new-body-late", 120)]:
            cases.append((f"{name}-{i}", o, Item(
                f"la-{name}-{i}", f"https://team.example.gov.uk/{name}/{i}/", o.title, o.author,
                o.published + timedelta(days=days), _opening_over_new_ending(o, other),
            )))  # fmt: skip
    for i in range(0, 55, 6):
        s, others = SHORT[i], [ORIGINALS[(i + k) % len(ORIGINALS)] for k in (3, 4, 5)]
        cases.append((f"short-post-quoted-in-a-longer-one-{i}", s, Item(
            f"la-quoted-{i}", f"https://team.example.gov.uk/quoted/{i}/",
            f"What {first_name(s)} got right", s.author, s.published + timedelta(days=3),
            _quoted_in_a_longer_post(s, others),
        )))  # fmt: skip
    return cases


LOOKALIKES = lookalikes()


@pytest.mark.parametrize(("name", "stored", "item"), LOOKALIKES, ids=[c[0] for c in LOOKALIKES])
def test_a_lookalike_is_not_linked(
    site: tuple[Path, FeedServer], pool: ParsePool, tmp_path: Path,
    name: str, stored: Original, item: Item,
) -> None:  # fmt: skip
    assert side_by_side(site, pool, tmp_path, name, stored, item) == {
        stored.guid: None,
        item.guid: None,
    }
