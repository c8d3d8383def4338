"""A blog's back catalogue is marked as its first fetch stores it (issue 13).

`posts.is_backfill` is set on the rows as they are inserted when they are the
feed's first posts, instead of rewriting every row after; anything else (a
feed that has posts, a key twice in one call) still runs the UPDATE. Both
must give what the UPDATE's query gives: all the feed's posts but the newest
`keep`, by stored date, then the lower id.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.models import EntryData
from aggregator.storage import connect
from aggregator.storage.feeds import sync_feeds
from aggregator.storage.posts import backfill_flags, save_entries

from .conftest import registry_for

NOW = "2026-11-23T12:00:00Z"
URL = "https://blog.example.org/feed.xml"
DATES = [
    None,
    "2026-11-20T09:00:00Z",
    "2026-11-21T09:00:00Z",
    "2026-11-23T12:00:00Z",  # NOW: a tie with every undated post
    "2027-01-01T00:00:00Z",
]


def entry(key: str, published: str | None) -> EntryData:
    return EntryData(
        entry_key=key, raw_hash=key * 4, guid=key, url=f"https://blog.example.org/{key}",
        title=f"Post {key}", author=None, published=published, updated=None, categories=(),
        summary_html=None, content_html=f"<p>Words of post {key}</p>", text=f"Words of post {key}",
    )  # fmt: skip


@contextmanager
def feed_db() -> Iterator[tuple[sqlite3.Connection, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        conn = connect(Path(tmp) / "voice.db")
        try:
            sync_feeds(conn, registry_for(URL).feeds, NOW)
            yield conn, conn.execute("SELECT id FROM feeds").fetchone()[0]
        finally:
            conn.close()


def marked(conn: sqlite3.Connection, feed_id: int) -> set[int]:
    found = conn.execute("SELECT id FROM posts WHERE feed_id = ? AND is_backfill = 1", [feed_id])
    return {r[0] for r in found}


def by_the_query(conn: sqlite3.Connection, feed_id: int, keep: int) -> set[int]:
    """The rows the UPDATE would mark, read with its own query."""
    found = conn.execute(
        """
        SELECT id FROM posts WHERE feed_id = :feed_id AND id NOT IN (
            SELECT id FROM posts WHERE feed_id = :feed_id ORDER BY published DESC, id LIMIT :keep)
        """,
        {"feed_id": feed_id, "keep": keep},
    )
    return {r[0] for r in found}


def save(conn: sqlite3.Connection, feed_id: int, entries: list[EntryData], keep: int) -> None:
    conn.execute("BEGIN")
    known = frozenset(r[0] for r in conn.execute("SELECT entry_key FROM posts"))
    save_entries(conn, feed_id, entries, NOW, known, backfill_keep=keep)
    conn.execute("COMMIT")


@settings(max_examples=40, deadline=None)
@given(
    dates=st.lists(st.sampled_from(DATES), max_size=12),
    keep=st.integers(min_value=1, max_value=6),
)
def test_a_first_fetch_marks_what_the_query_marks(dates: list[str | None], keep: int) -> None:
    entries = [entry(f"k{i}", d) for i, d in enumerate(dates)]
    with feed_db() as (conn, feed_id):
        save(conn, feed_id, entries, keep)
        assert marked(conn, feed_id) == by_the_query(conn, feed_id, keep)
        assert len(marked(conn, feed_id)) == max(0, len(entries) - keep)


def test_a_feed_with_posts_is_marked_by_the_update() -> None:
    """Its older posts count too, which rows going in cannot know."""
    with feed_db() as (conn, feed_id):
        save(conn, feed_id, [entry("old", DATES[4])], 1)
        assert marked(conn, feed_id) == set()
        save(conn, feed_id, [entry("a", DATES[1]), entry("b", DATES[2])], 2)
        assert marked(conn, feed_id) == by_the_query(conn, feed_id, 2)
        assert [
            r[0] for r in conn.execute("SELECT entry_key FROM posts WHERE is_backfill = 1")
        ] == ["a"]


def test_ties_go_to_the_earlier_row_and_undated_rows_count_as_now() -> None:
    rows = [
        {"published": "2026-11-21T09:00:00Z"},
        {"published": None},
        {"published": "2026-11-21T09:00:00Z"},
    ]
    assert backfill_flags(rows, NOW, 1) == [1, 0, 1]
    assert backfill_flags(rows, NOW, 2) == [0, 0, 1]
    assert backfill_flags(rows, "2026-01-01T00:00:00Z", 1) == [0, 1, 1]
