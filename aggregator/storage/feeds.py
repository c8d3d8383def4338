"""The feeds table: the registry synced in, the feeds a cycle checks, `voice status`.

Part of the storage stage; every write is one transaction.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from aggregator.models import FeedSource, FeedState
from aggregator.storage.connection import SCHEDULABLE, transaction
from aggregator.storage.keys import fill_missing_slugs
from aggregator.storage.verification import copy_verified


def sync_feeds(conn: sqlite3.Connection, sources: Sequence[FeedSource], now: str) -> None:
    """Make the feeds table match the registry; feeds dropped from it are kept as 'removed'."""
    with transaction(conn):
        before = {
            r[0]: tuple(r[1:])
            for r in conn.execute(
                "SELECT url, topics, region, organisation, display, paused FROM feeds"
            )
        }
        urls = []
        for src in sources:
            urls.append(src.url)
            conn.execute(
                """
                INSERT INTO feeds (url, title, site_url, author, organisation, region, topics,
                                   interval_minutes, display, research, paused, added_at)
                VALUES (:url, :title, :site_url, :author, :organisation, :region, :topics,
                        :interval_minutes, :display, :research, :paused, :now)
                ON CONFLICT (url) DO UPDATE SET
                    title = coalesce(excluded.title, feeds.title),
                    site_url = coalesce(excluded.site_url, feeds.site_url),
                    author = excluded.author, organisation = excluded.organisation,
                    region = excluded.region, topics = excluded.topics,
                    interval_minutes = excluded.interval_minutes,
                    display = excluded.display, research = excluded.research,
                    paused = excluded.paused,
                    status = CASE WHEN feeds.status = 'removed' THEN 'new' ELSE feeds.status END
                WHERE feeds.title IS NOT coalesce(excluded.title, feeds.title)
                   OR feeds.site_url IS NOT coalesce(excluded.site_url, feeds.site_url)
                   OR feeds.author IS NOT excluded.author
                   OR feeds.organisation IS NOT excluded.organisation
                   OR feeds.region IS NOT excluded.region
                   OR feeds.topics IS NOT excluded.topics
                   OR feeds.interval_minutes IS NOT excluded.interval_minutes
                   OR feeds.display IS NOT excluded.display
                   OR feeds.research IS NOT excluded.research
                   OR feeds.paused IS NOT excluded.paused
                   OR feeds.status = 'removed'
                """,
                {
                    "url": src.url,
                    "title": src.title,
                    "site_url": src.site_url,
                    "author": src.author,
                    "organisation": src.organisation,
                    "region": src.region,
                    "topics": json.dumps(list(src.topics)),
                    "interval_minutes": src.interval_minutes,
                    "display": src.display,
                    "research": int(src.research),
                    "paused": int(src.paused),
                    "now": now,
                },
            )
        moved = [
            src.url
            for src in sources
            if src.url in before and before[src.url][1:3] != (src.region, src.organisation)
        ]
        if moved:  # a blog's region or organisation changed: its posts follow
            conn.execute(
                f"""
                UPDATE posts SET region = feeds.region, organisation = feeds.organisation
                FROM feeds WHERE posts.feed_id = feeds.id
                  AND feeds.url IN ({",".join("?" * len(moved))})
                """,
                moved,
            )
        retopic = [
            src.url
            for src in sources
            if src.url in before and before[src.url][0] != json.dumps(list(src.topics))
        ]
        if retopic:
            _apply_feed_topics(conn, retopic)
        _apply_choices(conn, sources, before)
        placeholders = ",".join("?" * len(urls))
        conn.execute(
            f"UPDATE feeds SET status = 'removed', next_check_at = NULL"
            f" WHERE status != 'removed' AND url NOT IN ({placeholders})",
            urls,
        )
        fill_missing_slugs(conn)
        copy_verified(conn)


def _apply_choices(
    conn: sqlite3.Connection, sources: Sequence[FeedSource], before: dict[str, tuple]
) -> None:
    """A new blog, or a changed choice: excerpts cut, a refetch in full, health for a pause.

    `choices` (excerpting and sketching) is imported only when a choice changed,
    so a cycle's start-up does not load it.
    """
    display = [
        s.url
        for s in sources
        if (s.url in before and before[s.url][3] != s.display)
        or (s.url not in before and s.display != "full")
    ]
    paused = [
        s.url
        for s in sources
        if (s.url in before and bool(before[s.url][4]) != s.paused)
        or (s.url not in before and s.paused)
    ]
    if not display and not paused:
        return
    from aggregator.storage import choices

    if display:
        choices.apply_display(conn, display)
    if paused:
        choices.apply_pause(conn, paused)


def sync_topics(conn: sqlite3.Connection, topics: Sequence[tuple[str, str, str]]) -> None:
    """Copy topics.yaml's (slug, label, description) into `topics`, in the file's order.

    The reader pages show labels and descriptions from here; a topic dropped
    from the vocabulary leaves the table (posts keep their rows until retagged).
    """
    rows = [(slug, label, description, i) for i, (slug, label, description) in enumerate(topics)]
    current = [tuple(r) for r in conn.execute("SELECT * FROM topics ORDER BY position")]
    if current == rows:
        return
    with transaction(conn):
        conn.execute("DELETE FROM topics")
        conn.executemany("INSERT INTO topics VALUES (?, ?, ?, ?)", rows)


def _apply_feed_topics(conn: sqlite3.Connection, urls: list[str]) -> None:
    """A blog's default topics changed in feeds.yaml: update its posts' "feed" topics.

    A topic an editor removed from a post stays removed; editor rows are kept.
    A taken-down post (a tombstone) gets no topics back.
    """
    marks = ",".join("?" * len(urls))
    feeds = f"(SELECT id FROM feeds WHERE url IN ({marks}))"
    conn.execute(
        f"""
        DELETE FROM post_topics WHERE source = 'feed'
          AND post_id IN (SELECT id FROM posts WHERE feed_id IN {feeds})
          AND NOT EXISTS (
            SELECT 1 FROM posts p JOIN feeds f ON f.id = p.feed_id, json_each(f.topics) j
            WHERE p.id = post_topics.post_id AND j.value = post_topics.topic)
        """,
        urls,
    )
    conn.execute(
        f"""
        INSERT OR IGNORE INTO post_topics (post_id, topic, source, score, rules_version)
        SELECT p.id, j.value, 'feed', 1.0, 'feeds.yaml'
        FROM posts p JOIN feeds f ON f.id = p.feed_id, json_each(f.topics) j
        WHERE p.feed_id IN {feeds} AND p.removed_at IS NULL AND NOT EXISTS (
            SELECT 1 FROM editor_topics e
            WHERE e.post_id = p.id AND e.topic = j.value AND e.action = 'removed')
        """,
        urls,
    )
    conn.execute(
        f"""
        UPDATE posts SET topics = coalesce((
            SELECT json_group_array(topic) FROM (
                SELECT topic FROM post_topics WHERE post_id = posts.id ORDER BY topic)), '[]')
        WHERE feed_id IN {feeds} AND removed_at IS NULL
        """,
        urls,
    )


_STATE_COLUMNS = [f for f in FeedState.__dataclass_fields__ if f != "recent_published"]


def _feed_state(row: sqlite3.Row, recent: dict[int, tuple[datetime, ...]]) -> FeedState:
    return FeedState(
        **{k: row[k] for k in _STATE_COLUMNS}, recent_published=recent.get(row["id"], ())
    )


def select_feeds(
    conn: sqlite3.Connection, now: str, *, due_only: bool = True, url: str | None = None
) -> list[FeedState]:
    """The feeds a cycle should check: due ones, all schedulable ones, or one by URL."""
    columns = ", ".join(_STATE_COLUMNS)
    if url is not None:
        rows = conn.execute(f"SELECT {columns} FROM feeds WHERE url = ?", [url]).fetchall()
    elif due_only:
        rows = conn.execute(
            f"SELECT {columns} FROM feeds WHERE {SCHEDULABLE}"
            " AND (next_check_at IS NULL OR next_check_at <= ?) ORDER BY next_check_at, id",
            [now],
        ).fetchall()
    else:
        rows = conn.execute(
            f"SELECT {columns} FROM feeds WHERE {SCHEDULABLE} ORDER BY id"
        ).fetchall()
    recent = _recent_published(conn, [r["id"] for r in rows]) if rows else {}
    return [_feed_state(r, recent) for r in rows]


def is_paused(conn: sqlite3.Connection, url: str) -> bool:
    """Whether the blog's member paused it (feeds.yaml `paused: true`)."""
    row = conn.execute("SELECT paused FROM feeds WHERE url = ?", [url]).fetchone()
    return bool(row and row[0])


def _recent_published(
    conn: sqlite3.Connection, feed_ids: Sequence[int], per_feed: int = 20
) -> dict[int, tuple[datetime, ...]]:
    """The selected feeds' newest post dates, newest first, for the schedule's rhythm.

    Only the feeds this cycle checks: a `voice run` cycle with two feeds due
    reads their posts, not the whole archive. One pass over the covering
    index keeps each feed's newest in a small heap. A window function
    (row_number() per feed) sorted every row first: for 500 feeds, 19 ms at
    10,000 posts and 103 ms at 100,000, where this takes 10 and 84.
    """
    newest: dict[int, list[str]] = {}
    marks = ",".join("?" * len(feed_ids))
    rows = conn.execute(
        f"SELECT feed_id, published FROM posts WHERE feed_id IN ({marks})", list(feed_ids)
    )
    for feed_id, published in rows:
        kept = newest.setdefault(feed_id, [])
        if len(kept) < per_feed:
            heapq.heappush(kept, published)
        elif published > kept[0]:
            heapq.heapreplace(kept, published)
    return {
        feed_id: tuple(datetime.fromisoformat(p) for p in sorted(kept, reverse=True))
        for feed_id, kept in newest.items()
    }


PROBLEM = "(status IN ('error', 'failing', 'gone') OR pending_redirect IS NOT NULL)"


def feed_rows(conn: sqlite3.Connection, *, problems_only: bool = False) -> list[sqlite3.Row]:
    """Feeds for `voice status`, problems first, with the private detail of errors."""
    where = f"WHERE {PROBLEM}" if problems_only else ""
    return conn.execute(
        f"""
        SELECT url, title, region, status, error_kind,
               coalesce(detail.error, last_error) AS last_error, explanation,
               last_success_at, next_check_at, error_count, pending_redirect,
               (SELECT count(*) FROM posts WHERE posts.feed_id = feeds.id) AS posts
        FROM feeds LEFT JOIN private.feed_errors AS detail ON detail.feed_id = feeds.id
        {where}
        ORDER BY NOT {PROBLEM}, status = 'removed', url
        """
    ).fetchall()


def feed_details(conn: sqlite3.Connection, url: str) -> sqlite3.Row | None:
    """One feed in full for `voice status --feed`: only what its member may see.

    The last error is the public sentence, never the technical detail.
    """
    return conn.execute(
        """
        SELECT url, title, site_url, region, organisation, author, status, error_kind,
               last_error, explanation, last_checked_at, last_success_at, next_check_at,
               pending_redirect, display, research, paused, verified_at, slug,
               (SELECT count(*) FROM posts WHERE posts.feed_id = feeds.id
                  AND posts.removed_at IS NULL) AS posts
        FROM feeds WHERE url = ? AND removed_at IS NULL
        """,
        [url],
    ).fetchone()
