"""Copies found wherever they hide, through the whole cycle and stored links.

Feeds are in tests/data/copies/: a member's own post (member.rss), teaser
copies of it by an aggregator site under three title suffixes and a round-up's
teaser ending "Read more on <site>" (aggregator-read-more.rss), a newsletter
running it as "Issue 4: <title>" (newsletter.rss), a network feed
that links the original with tracking parameters, a council team's repost with
an intro, two short notes under one title, a programme blog's guest post of it
under a new title (guest.rss), the blog's old address giving an excerpt only
(member-old-excerpt.rss), and look-alikes: a short post that is mostly a
quotation of it (quote.rss) and two job ads from one template on two feeds
(jobs-council.rss, jobs-board.rss).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.analysis import similarity, sketch
from aggregator.analysis.similarity import Match, duplicate_match, fingerprint
from aggregator.models import ParseJob
from aggregator.parsing.parse import parse_feed
from aggregator.parsing.pool import ParsePool
from aggregator.storage import connect
from aggregator.storage.admin import rebuild_duplicates
from aggregator.update import update_feeds
from tests.support.feedserver import FeedServer

from .conftest import DATA, registry_for, rows

NOW = datetime(2016, 11, 23, 12, 0, tzinfo=UTC)
MEMBER = "member.rss"  # Phil Rumens' own blog: the only feed with an author


def run_in_order(
    db: Path, pool: ParsePool, server: FeedServer, *names: str, now: datetime = NOW
) -> None:
    """Each feed in its own cycle, in the order given, as if they arrived days apart."""
    for name in names:
        registry = registry_for(server.url(name))
        if name == MEMBER:
            registry = replace(registry, feeds=(replace(registry.feeds[0], author="Phil Rumens"),))
        result = update_feeds(registry, db, due_only=False, clock=lambda: now, pool=pool)
        assert result.feeds[0].outcome == "ok", result.feeds[0]


def links(db: Path) -> dict[str, tuple[str | None, str | None]]:
    """feed file -> (the feed file of its post's canonical, duplicate_reason) per post."""
    found = rows(
        db,
        """
        SELECT f.url, canon.url, p.duplicate_reason
        FROM posts p JOIN feeds f ON f.id = p.feed_id
        LEFT JOIN posts c ON c.id = p.duplicate_of LEFT JOIN feeds canon ON canon.id = c.feed_id
        ORDER BY p.id
        """,
    )
    name = lambda url: url.rsplit("/", 1)[-1] if url else None  # noqa: E731
    return {name(feed): (name(canonical), reason) for feed, canonical, reason in found}


def rebuilt(db: Path) -> dict[str, tuple[str | None, str | None]]:
    conn = connect(db)
    try:
        rebuild_duplicates(conn)
    finally:
        conn.close()
    return links(db)


@pytest.fixture
def server(feed_dir: Path):
    for f in (DATA / "copies").iterdir():
        shutil.copy(f, feed_dir / f.name)
    with FeedServer(feed_dir) as srv:
        yield srv


# --- truncated aggregator copies ------------------------------------------------


@pytest.mark.parametrize("aggregator", ["aggregator-dash.rss", "aggregator-bar.rss",
                                        "aggregator-hyphen.rss",
                                        "aggregator-read-more.rss"])  # fmt: skip
@pytest.mark.parametrize("member_first", [True, False], ids=["member-first", "copy-first"])
def test_an_aggregators_teaser_is_a_copy_of_the_members_own_post(
    server: FeedServer, db_path: Path, pool: ParsePool, aggregator: str, member_first: bool
) -> None:
    order = (MEMBER, aggregator) if member_first else (aggregator, MEMBER)
    run_in_order(db_path, pool, server, *order)
    found = links(db_path)
    assert found[MEMBER] == (None, None)  # the full post, on the member's own blog, leads
    canonical, reason = found[aggregator]
    assert canonical == MEMBER and reason is not None
    rule, score = reason.split()
    assert rule == "opening-of" and float(score) >= 0.9
    assert rebuilt(db_path) == found


def test_a_teaser_is_found_whichever_post_is_new() -> None:
    full = fingerprint(**_post(1, 10, "LocalGov Digital rebooted", (DATA / "copies" / MEMBER)))
    teaser = fingerprint(
        **_post(2, 20, "LocalGov Digital rebooted – Phil Rumens' blog",
                DATA / "copies" / "aggregator-dash.rss")
    )  # fmt: skip
    match = duplicate_match(teaser, full)
    assert match is not None and match.rule == "opening-of" and match.partial == 2
    assert duplicate_match(full, teaser) == match


@pytest.mark.parametrize(
    ("title", "stem"),
    [
        pytest.param("Title – Blog name", "Title", id="en-dash"),
        pytest.param("Title — Blog name", "Title", id="em-dash"),
        pytest.param("Title | Blog name", "Title", id="bar"),
        pytest.param("Title - Blog name", "Title", id="hyphen"),
        pytest.param("Agile - what next? | Jo's blog", "Agile - what next?", id="last-separator"),
        pytest.param("Title", None, id="no-suffix"),
        pytest.param("Co-operative futures", None, id="hyphenated-word-is-no-separator"),
        pytest.param("– Blog name", None, id="nothing-before-the-separator"),
    ],
)
def test_title_stem(title: str, stem: str | None) -> None:
    assert similarity.title_stem(title) == stem


@pytest.mark.parametrize(
    ("change", "why"),
    [
        pytest.param({"title": "Why LocalGov Digital rebooted"}, "another post's title",
                     id="different-title-without-a-suffix"),
        pytest.param({"title": "Why LocalGov Digital rebooted – Phil Rumens' blog"},
                     "another post's title", id="different-title"),
        pytest.param({"feed_id": 10}, "a blog does not copy itself", id="same-feed"),
        pytest.param({"published": "2017-11-22T07:15:00+00:00"}, "a year later",
                     id="a-year-apart"),
    ],
)  # fmt: skip
def test_a_teaser_needs_the_title_rule_and_the_usual_guards(change: dict, why: str) -> None:
    full = fingerprint(**_post(1, 10, "LocalGov Digital rebooted", (DATA / "copies" / MEMBER)))
    teaser = _post(2, 20, "LocalGov Digital rebooted – Phil Rumens' blog",
                   DATA / "copies" / "aggregator-dash.rss")  # fmt: skip
    assert duplicate_match(fingerprint(**{**teaser, **change}), full) is None, why


@pytest.mark.parametrize(
    ("ending", "cut"),
    [
        pytest.param("advice and […]\nRead more on The Front Counter · originally from Penrhydd",
                     True, id="read-more-on-site"),
        pytest.param("300 premises…\nRead more at Notes from the EH office", True,
                     id="ellipsis-then-read-more-at-site"),
        pytest.param("which it is.\nContinue reading at Public sector blogs »", True,
                     id="continue-reading-at-site"),
        pytest.param("which it is.\nRead the full post on Jo's blog", True,
                     id="read-the-full-post-on-site"),
        pytest.param("which it is.\nRead more about the co-operative on our website.", False,
                     id="a-full-posts-last-line-pointing-elsewhere"),
        pytest.param("which it is. You can read more on our website.", False,
                     id="read-more-mid-line"),
    ],
)  # fmt: skip
def test_a_teasers_last_line_naming_where_to_read_on_is_not_compared(
    ending: str, cut: bool
) -> None:
    """The tail is the round-up's, not the original's: left, it costs a teaser its containment."""
    member = _post(1, 10, "LocalGov Digital rebooted", DATA / "copies" / MEMBER)
    opening = "\n".join(member["text"].split("\n")[:2]) + " "
    text = opening + ending
    assert sketch.is_cut(text) is cut
    without_last_line = text.removesuffix(ending.split("\n")[-1])
    assert (sketch.post_shingles(text) == sketch.post_shingles(without_last_line)) is cut


# --- a blog's old address, excerpts only, beside the full text at its new one -----


@pytest.mark.parametrize("old_first", [True, False], ids=["old-first", "new-first"])
def test_an_excerpt_at_a_blogs_old_address_is_the_opening_of_the_same_titled_post(
    server: FeedServer, db_path: Path, pool: ParsePool, old_first: bool
) -> None:
    """A blog that moved: the old feed gives an excerpt under the post's own title, no suffix."""
    old = "member-old-excerpt.rss"
    run_in_order(db_path, pool, server, *((old, MEMBER) if old_first else (MEMBER, old)))
    found = links(db_path)
    assert found[MEMBER] == (None, None)  # the full text leads
    canonical, reason = found[old]
    assert canonical == MEMBER and reason is not None and reason.startswith("opening-of")
    assert rebuilt(db_path) == found


def test_a_same_titled_shorter_post_is_an_opening_only_when_its_text_is_cut() -> None:
    """Without "[…]" or "Read more", a shorter post under the same title is not an excerpt."""
    full = fingerprint(**_post(1, 10, "LocalGov Digital rebooted", DATA / "copies" / MEMBER))
    teaser = _post(2, 20, "LocalGov Digital rebooted", DATA / "copies" / "aggregator-dash.rss")
    assert duplicate_match(fingerprint(**teaser), full) == Match("opening-of", 1.0, partial=2)
    whole = teaser["text"].replace(" […]\nContinue reading", ".")
    assert duplicate_match(fingerprint(**{**teaser, "text": whole}), full) is None


def test_an_excerpt_under_the_same_title_is_found_whichever_post_is_new() -> None:
    full = fingerprint(**_post(1, 10, "LocalGov Digital rebooted", DATA / "copies" / MEMBER))
    excerpt = fingerprint(**_post(2, 20, "LocalGov Digital rebooted",
                                  DATA / "copies" / "member-old-excerpt.rss"))  # fmt: skip
    match = duplicate_match(excerpt, full)
    assert match is not None and match.rule == "opening-of" and match.partial == 2
    assert duplicate_match(full, excerpt) == match


# --- a guest post under a new title: contained, whatever the title ---------------

GUEST_TITLE = "Guest post: why LocalGov Digital wants to become a co-operative"


@pytest.mark.parametrize("member_first", [True, False], ids=["member-first", "copy-first"])
def test_a_guest_post_under_a_new_title_with_an_intro_is_a_copy(
    server: FeedServer, db_path: Path, pool: ParsePool, member_first: bool
) -> None:
    order = (MEMBER, "guest.rss") if member_first else ("guest.rss", MEMBER)
    run_in_order(db_path, pool, server, *order, now=datetime(2016, 12, 5, 12, tzinfo=UTC))
    found = links(db_path)
    assert found[MEMBER] == (None, None)
    canonical, reason = found["guest.rss"]
    assert canonical == MEMBER and reason is not None
    rule, score = reason.split()
    assert rule == "contained" and float(score) >= similarity.CONTAINED_THRESHOLD
    assert rebuilt(db_path) == found


def test_a_guest_post_is_contained_though_too_edited_for_near_duplicate() -> None:
    full = fingerprint(**_post(1, 10, "LocalGov Digital rebooted", DATA / "copies" / MEMBER))
    guest = fingerprint(**_post(2, 20, GUEST_TITLE, DATA / "copies" / "guest.rss"))
    both = len(full.shingle_set & guest.shingle_set)
    assert both / len(full.shingle_set | guest.shingle_set) < similarity.STRICT_THRESHOLD
    match = duplicate_match(guest, full)
    assert match is not None and match.rule == "contained" and match.partial is None
    assert duplicate_match(full, guest) == match


def _guest_without_intro_or_outro() -> dict:
    guest = _post(2, 20, GUEST_TITLE, DATA / "copies" / "guest.rss")
    body = guest["text"].split("\n")[1:-1]  # the guest post's own words only
    return {**guest, "title": "Why LocalGov Digital wants to become a co-operative",
            "text": "\n".join(body)}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        pytest.param({"title": GUEST_TITLE}, "contained", id="guest-post-title"),
        pytest.param({"text": "This is a guest post by Phil Rumens.\n"}, "contained",
                     id="intro-says-guest-post"),
        pytest.param({"text": "It first appeared on his own blog last week.\n"}, "contained",
                     id="intro-says-first-appeared"),
        pytest.param({"author": "Phil Rumens"}, "contained", id="one-named-author"),
        pytest.param({}, None, id="no-sign-like-two-posts-from-one-template"),
        pytest.param({"author": "Digital team"}, None, id="an-unnamed-author-is-no-sign"),
    ],
)  # fmt: skip
def test_a_copy_under_a_new_title_needs_a_sign_of_republication(
    change: dict, rule: str | None
) -> None:
    """Both named by one person, or a title or intro saying so; templates have neither."""
    member = _post(1, 10, "LocalGov Digital rebooted", DATA / "copies" / MEMBER)
    guest = _guest_without_intro_or_outro()
    if "author" in change:
        member = {**member, "author": change["author"]}
    guest = {**guest, **change, "text": change.get("text", "") + guest["text"]}
    match = duplicate_match(fingerprint(**guest), fingerprint(**member))
    assert (match.rule if match else None) == rule


@pytest.mark.parametrize(
    ("change", "why"),
    [
        pytest.param({"feed_id": 10}, "a blog does not copy itself", id="same-feed"),
        pytest.param({"published": "2017-12-05T10:00:00+00:00"}, "a year later",
                     id="a-year-apart"),
        pytest.param({"title": "Guest post: LocalGov Digital in 2017"}, "another year's post",
                     id="title-numbers-differ"),
    ],
)  # fmt: skip
def test_containment_keeps_the_usual_guards(change: dict, why: str) -> None:
    full = fingerprint(**_post(1, 10, "LocalGov Digital rebooted", DATA / "copies" / MEMBER))
    guest = _post(2, 20, GUEST_TITLE, DATA / "copies" / "guest.rss")
    assert duplicate_match(fingerprint(**{**guest, **change}), full) is None, why


def test_a_guest_post_whose_title_says_one_is_still_contained() -> None:
    """ "one" in a title is a word, not a part number: no series guard against the original."""
    full = fingerprint(**_post(1, 10, "LocalGov Digital rebooted", DATA / "copies" / MEMBER))
    guest = _post(2, 20, "Guest post: one co-operative for every council",
                  DATA / "copies" / "guest.rss")  # fmt: skip
    match = duplicate_match(fingerprint(**guest), full)
    assert match is not None and match.rule == "contained"


# --- a newsletter's issue label: "Issue 4: <title>" --------------------------------

ISSUE = "Issue 4: LocalGov Digital rebooted"


@pytest.mark.parametrize("member_first", [True, False], ids=["member-first", "copy-first"])
def test_a_newsletter_running_a_post_as_an_issue_is_a_copy(
    server: FeedServer, db_path: Path, pool: ParsePool, member_first: bool
) -> None:
    order = (MEMBER, "newsletter.rss") if member_first else ("newsletter.rss", MEMBER)
    run_in_order(db_path, pool, server, *order, now=datetime(2016, 11, 26, tzinfo=UTC))
    found = links(db_path)
    assert found[MEMBER] == (None, None)
    canonical, reason = found["newsletter.rss"]
    assert canonical == MEMBER and reason is not None and reason.startswith("near-duplicate")
    assert rebuilt(db_path) == found


@pytest.mark.parametrize(
    ("title", "rule"),
    [
        pytest.param(ISSUE, "near-duplicate", id="issue-label"),
        pytest.param("The Co-op Digest, issue 4: LocalGov Digital rebooted", "near-duplicate",
                     id="newsletter-name-and-issue"),
        pytest.param("#4 – LocalGov Digital rebooted", "near-duplicate", id="hash-number"),
        pytest.param("No. 12 | LocalGov Digital rebooted", "near-duplicate", id="no-number"),
        # a series' number is the post's own, whatever the place in the title
        pytest.param("Part 2: LocalGov Digital rebooted", None, id="part-2-label"),
        pytest.param("LocalGov Digital rebooted, part 2", None, id="part-2-suffix"),
        pytest.param("Issue 4: LocalGov Digital rebooted, part 2", None,
                     id="issue-label-and-a-part-number"),
        pytest.param("Weeknotes 12: LocalGov Digital rebooted", None, id="weeknotes-label"),
        pytest.param("LocalGov Digital rebooted 2017", None, id="a-year"),
    ],
)  # fmt: skip
def test_an_issue_label_is_the_newsletters_number_not_the_posts(
    title: str, rule: str | None
) -> None:
    """Only a periodical's label ("Issue 4:", "No. 12 |") is set aside; the rest must agree."""
    member = fingerprint(**_post(1, 10, "LocalGov Digital rebooted", DATA / "copies" / MEMBER))
    issue = _post(2, 20, ISSUE, DATA / "copies" / "newsletter.rss")
    for new, old in ((fingerprint(**{**issue, "title": title}), member),):
        match = duplicate_match(new, old)
        assert (match.rule if match else None) == rule
        assert duplicate_match(old, new) == match


def test_two_issues_of_a_newsletter_keep_their_numbers() -> None:
    """Issue 4 and Issue 5 under one column title are two issues: the labels differ."""
    issue = _post(1, 10, ISSUE, DATA / "copies" / "newsletter.rss")
    column = "Letter from the chair"
    four = fingerprint(**{**issue, "title": f"Issue 4: {column}"})
    five = {**issue, "post_id": 2, "feed_id": 20, "title": f"Issue 5: {column}"}
    five = fingerprint(**{**five, "url": "https://coopdigest.substack.com/p/issue-5"})
    assert duplicate_match(five, four) is None


# --- look-alikes that containment must not merge ----------------------------------


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        pytest.param("jobs-council.rss", "jobs-board.rss",
                     "two roles' ads from one template share about 0.6 of their text",
                     id="job-ads-from-one-template"),
        pytest.param(MEMBER, "quote.rss",
                     "a short post that is mostly a quotation is under the minimum size",
                     id="a-short-post-quoting-two-paragraphs"),
    ],
)  # fmt: skip
def test_look_alikes_are_not_contained(
    server: FeedServer, db_path: Path, pool: ParsePool, first: str, second: str, why: str
) -> None:
    run_in_order(db_path, pool, server, first, second, now=datetime(2019, 3, 12, tzinfo=UTC))
    assert links(db_path) == {first: (None, None), second: (None, None)}, why


def test_a_section_of_a_longer_page_is_contained_but_too_small_a_share() -> None:
    """The demo's workstreams feed posts sections of a 2014 article, each under its own title."""
    page = DATA.parent.parent / "demo" / "feeds"
    whole = _post(1, 10, "LocalGov Digital – people passionate about public services",
                  page / "localgov-digital.rss")  # fmt: skip
    section = _post(2, 20, "Skills and capability", page / "localgov-digital-workstreams.rdf")
    section = {**section, "url": None}  # not the same page: only the text can match
    a, b = fingerprint(**whole), fingerprint(**section)
    assert len(b.shingle_set & a.shingle_set) / len(b.shingle_set) >= similarity.CONTAINED_THRESHOLD
    assert len(b.shingle_set) >= similarity.MIN_CONTAINED_SHINGLES
    assert duplicate_match(b, a) is None


def test_a_short_quotation_is_not_contained_in_the_post_it_quotes() -> None:
    """Under MIN_CONTAINED_SHINGLES: a short post that is mostly two quoted paragraphs."""
    member = _post(1, 10, "LocalGov Digital rebooted", DATA / "copies" / MEMBER)
    ending = member["text"][member["text"].index("You can only get so far") :]
    full = fingerprint(**{**member, "text": ending})  # the quoted paragraphs and what follows
    quote = fingerprint(**_post(2, 20, "Worth reading: the case for a co-operative",
                                DATA / "copies" / "quote.rss"))  # fmt: skip
    shared = len(quote.shingle_set & full.shingle_set)
    assert shared / len(quote.shingle_set) >= similarity.CONTAINED_THRESHOLD
    assert len(quote.shingle_set) >= similarity.MIN_CONTAINED_SHARE * len(full.shingle_set)
    assert duplicate_match(quote, full) is None


def _post(post_id: int, feed_id: int, title: str, feed: Path) -> dict:
    """The one entry of a fixture feed, as fingerprint() takes it."""
    job = ParseJob(feed.read_bytes(), "https://x.example/", None, "2016-11-23T12:00:00Z")
    entry = parse_feed(job).entries[0]
    return {
        "post_id": post_id,
        "feed_id": feed_id,
        "author": entry.author,
        "published": entry.published,
        "url": entry.url,
        "title": title,
        "text": entry.text,
        "evidence_key": None,
        "own_blog": False,
    }


# --- hand-over: each copy keeps its own reason -----------------------------------


def test_when_the_members_post_arrives_last_only_duplicate_of_moves(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    run_in_order(db_path, pool, server, "network.rss", "team.rss")
    before = links(db_path)
    assert before["network.rss"] == (None, None)
    assert before["team.rss"][0] == "network.rss"
    team_reason = before["team.rss"][1]
    assert team_reason is not None and team_reason.startswith("near-duplicate")

    run_in_order(db_path, pool, server, MEMBER)
    after = links(db_path)
    assert after[MEMBER] == (None, None)
    assert after["network.rss"] == (MEMBER, "same-url 1.00")  # its own link to the member
    assert after["team.rss"] == (MEMBER, team_reason)  # not rewritten to same-url
    assert rebuilt(db_path) == after


def test_a_post_that_matches_two_clusters_joins_them(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    """A teaser and a Medium copy months later do not match each other; the post joins them."""
    later = datetime(2017, 7, 1, tzinfo=UTC)
    run_in_order(db_path, pool, server, "aggregator-dash.rss", "medium.rss", MEMBER, now=later)
    found = links(db_path)
    assert found[MEMBER] == (None, None)
    assert found["medium.rss"] == (MEMBER, "evidence 1.00")
    assert found["aggregator-dash.rss"][0] == MEMBER
    assert rebuilt(db_path) == found


# --- one fingerprint: short notes never near-match --------------------------------


def test_two_short_notes_under_one_title_are_two_posts(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    run_in_order(db_path, pool, server, "notes-a.rss", "notes-b.rss")
    assert links(db_path) == {"notes-a.rss": (None, None), "notes-b.rss": (None, None)}
    assert rows(db_path, "SELECT count(*) FROM posts WHERE minhash IS NOT NULL") == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM post_lsh") == [(0,)]


# --- fragments: sections of one page are different posts --------------------------


def test_sections_of_one_page_are_posts_of_their_own(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    run_in_order(db_path, pool, server, "localgov-digital.rss", "localgov-digital-workstreams.rdf")
    public = rows(
        db_path,
        "SELECT feeds.url, count(posts_public.id) FROM feeds"
        " LEFT JOIN posts_public ON posts_public.feed_id = feeds.id GROUP BY feeds.id",
    )
    assert len(public) == 2 and all(count > 0 for _, count in public), public
    assert rows(db_path, "SELECT count(*) FROM posts WHERE duplicate_of IS NOT NULL") == [(0,)]


def test_one_post_linked_to_a_place_within_it_is_still_one_post() -> None:
    base = _post(1, 10, "LocalGov Digital rebooted", DATA / "copies" / MEMBER)
    more = {**base, "post_id": 2, "feed_id": 20, "url": base["url"] + "#more-412"}
    assert duplicate_match(fingerprint(**more), fingerprint(**base)) == Match("same-url", 1.0)
    section = {**more, "title": "Unmentoring", "text": "Unmentoring pairs people. " * 20}
    assert duplicate_match(fingerprint(**section), fingerprint(**base)) is None
