"""Copies found wherever they hide, through the whole cycle and stored links.

Feeds are in tests/data/copies/: a member's own post (member.rss), teaser
copies of it by an aggregator site under three title suffixes, a network feed
that links the original with tracking parameters, a council team's repost with
an intro, and two short notes under one title.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.analysis import similarity
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
                                        "aggregator-hyphen.rss"])  # fmt: skip
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
        pytest.param({"title": "LocalGov Digital rebooted"}, "same title, no suffix",
                     id="title-without-a-suffix"),
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
