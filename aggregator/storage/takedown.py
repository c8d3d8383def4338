"""Takedowns: a blog or one post leaves the public file at once, kept privately for undo.

The public database keeps a tombstone: the post's id, feed, dates and
`removed_at`, with no content (title, text, HTML, author, URL, topics and
its search-index entry are emptied, and secure_delete zeroes the old bytes).
The content moves to the private file's `removed_posts` until
`voice remove --purge`; who asked, why and which operator acted go to its
`removals`; the entry's identity goes to `removed_keys`, so the fetcher
never stores the post again. The private copy is committed before the public
file is emptied, so a crash between the two loses nothing: running the
command again finishes the job.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from aggregator.storage.connection import transaction

REMOVED_EXPLANATION = "Taken down at the member's request; its posts are no longer public."

_COPY_POSTS = """
    INSERT OR IGNORE INTO private.removed_posts
        (post_id, feed_id, entry_key, guid, url, title, author, summary_html,
         content_html, text, categories, topics, removed_at)
    SELECT id, feed_id, entry_key, guid, url, title, author, summary_html,
           content_html, text, categories, topics, :now
    FROM main.posts WHERE removed_at IS NULL AND {where}
"""
_KEEP_KEYS = """
    INSERT OR IGNORE INTO private.removed_keys (feed_id, entry_key)
    SELECT feed_id, entry_key FROM main.posts WHERE removed_at IS NULL AND {where}
"""
_EMPTY_POSTS = """
    UPDATE main.posts SET entry_key = 'removed:' || id, guid = NULL, url = NULL,
        title = '', author = NULL, summary_html = NULL, content_html = NULL, text = '',
        region = NULL, organisation = NULL,
        categories = '[]', topics = '[]', raw_hash = '', url_key = NULL,
        content_key = NULL, evidence_key = NULL, minhash = NULL, public_key = NULL,
        duplicate_reason = NULL, hidden = 1, removed_at = :now
    WHERE removed_at IS NULL AND {where}
"""


@dataclass(frozen=True)
class TakedownResult:
    removal_id: int
    posts_removed: int


@dataclass(frozen=True)
class _Selection:
    """Which posts a takedown covers, as SQL over `main.posts` with named parameters."""

    where: str
    params: dict[str, object]

    @classmethod
    def of_blog(cls, feed_id: int, now: str) -> _Selection:
        return cls("feed_id = :feed_id", {"feed_id": feed_id, "now": now})

    @classmethod
    def of_posts(cls, post_ids: list[int], now: str) -> _Selection:
        names = {f"post_{i}": post_id for i, post_id in enumerate(post_ids)}
        where = f"id IN ({', '.join(':' + name for name in names)})"
        return cls(where, {**names, "now": now})


def remove_blog(
    conn: sqlite3.Connection, feed_id: int, *, target: str, reason: str, removed_by: str, now: str
) -> TakedownResult:
    """Take a whole blog down: its posts, its member details, its polling."""
    chosen = _Selection.of_blog(feed_id, now)
    with transaction(conn):
        conn.execute(
            """
            INSERT OR IGNORE INTO private.removed_feeds
                (feed_id, url, title, site_url, author, organisation, region, topics, removed_at)
            SELECT id, url, title, site_url, author, organisation, region, topics, :now
            FROM main.feeds WHERE id = :feed_id
            """,
            chosen.params,
        )
        audit = _Audit(target, reason, removed_by, feed_id, None)
        removal_id, count = _copy_out(conn, chosen, audit)
    with transaction(conn):
        _empty(conn, chosen, removal_id, audit, count)
        conn.execute(
            """
            UPDATE feeds SET status = 'removed', next_check_at = NULL, removed_at = :now,
                url = 'removed:' || id, title = NULL, site_url = NULL, author = NULL,
                organisation = NULL, region = NULL, topics = '[]', last_error = NULL,
                pending_redirect = NULL, explanation = :explanation, slug = NULL
            WHERE id = :feed_id
            """,
            {**chosen.params, "explanation": REMOVED_EXPLANATION},
        )
        conn.execute("DELETE FROM redirects WHERE feed_id = ?", [feed_id])
        conn.execute("DELETE FROM private.feed_errors WHERE feed_id = ?", [feed_id])
        conn.execute("DELETE FROM private.entry_blocks WHERE feed_id = ?", [feed_id])
    return TakedownResult(removal_id, count)


def remove_posts(
    conn: sqlite3.Connection,
    post_ids: list[int],
    *,
    target: str,
    reason: str,
    removed_by: str,
    now: str,
) -> TakedownResult:
    """Take single posts down (a member asked for one post); their blog stays."""
    chosen = _Selection.of_posts(post_ids, now)
    audit = _Audit(target, reason, removed_by, None, post_ids[0])
    with transaction(conn):
        removal_id, count = _copy_out(conn, chosen, audit)
    with transaction(conn):
        _empty(conn, chosen, removal_id, audit, count)
    return TakedownResult(removal_id, count)


def purge(conn: sqlite3.Connection, *, feed_id: int | None, post_ids: list[int]) -> int:
    """Delete the private copies of taken-down content; the audit and the keys stay."""
    with transaction(conn):
        deleted = 0
        if feed_id is not None:
            deleted += conn.execute(
                "DELETE FROM private.removed_posts WHERE feed_id = ?", [feed_id]
            ).rowcount
            conn.execute("DELETE FROM private.removed_feeds WHERE feed_id = ?", [feed_id])
        for post_id in post_ids:
            deleted += conn.execute(
                "DELETE FROM private.removed_posts WHERE post_id = ?", [post_id]
            ).rowcount
    return deleted


def removed_keys(conn: sqlite3.Connection, feed_id: int) -> frozenset[str]:
    """Entry keys of this feed's taken-down posts: never to be stored again."""
    rows = conn.execute("SELECT entry_key FROM private.removed_keys WHERE feed_id = ?", [feed_id])
    return frozenset(r[0] for r in rows)


@dataclass(frozen=True)
class _Audit:
    target: str
    reason: str
    removed_by: str
    feed_id: int | None
    post_id: int | None


def _copy_out(conn: sqlite3.Connection, chosen: _Selection, audit: _Audit) -> tuple[int, int]:
    """The private half: content, identity and the audit row; (removal id, posts)."""
    conn.execute(_COPY_POSTS.format(where=chosen.where), chosen.params)
    conn.execute(_KEEP_KEYS.format(where=chosen.where), chosen.params)
    count = conn.execute(
        f"SELECT count(*) FROM main.posts WHERE removed_at IS NULL AND {chosen.where}",
        chosen.params,
    ).fetchone()[0]
    cursor = conn.execute(
        """
        INSERT INTO private.removals
            (feed_id, post_id, target, reason, removed_by, removed_at, posts_removed)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """,
        [
            audit.feed_id,
            audit.post_id,
            audit.target,
            audit.reason,
            audit.removed_by,
            chosen.params["now"],
            count,
        ],
    )
    return int(cursor.lastrowid or 0), int(count)


def _empty(
    conn: sqlite3.Connection, chosen: _Selection, removal_id: int, audit: _Audit, count: int
) -> None:
    """The public half: topic and sketch rows go, the posts become tombstones."""
    ids = f"SELECT id FROM main.posts WHERE removed_at IS NULL AND {chosen.where}"
    conn.execute(f"DELETE FROM post_topics WHERE post_id IN ({ids})", chosen.params)
    conn.execute(f"DELETE FROM editor_topics WHERE post_id IN ({ids})", chosen.params)
    conn.execute(f"DELETE FROM post_lsh WHERE post_id IN ({ids})", chosen.params)
    conn.execute(_EMPTY_POSTS.format(where=chosen.where), chosen.params)
    # FTS5 keeps a deleted row's terms in its older segments until they merge;
    # merging them now leaves no trace of the removed words in the index.
    conn.execute("INSERT INTO posts_fts (posts_fts) VALUES ('optimize')")
    conn.execute(
        "INSERT OR IGNORE INTO removals (id, feed_id, post_id, removed_at, posts_hidden)"
        " VALUES (?, ?, ?, ?, ?)",
        [removal_id, audit.feed_id, audit.post_id, chosen.params["now"], count],
    )
