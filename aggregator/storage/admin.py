"""Whole-archive and member-facing changes: retagging, rebuilding duplicate links,
and redirects (`voice retag`, `dedupe`, `redirects`); takedowns are in `takedown`.

Part of the store stage; each change is one or more short transactions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence

from aggregator.analysis import sketch
from aggregator.analysis.evidence import evidence_url
from aggregator.storage.connection import transaction
from aggregator.storage.corrections import (
    INSERT_TOPIC,
    editor_choices,
    topic_rows,
    with_corrections,
)
from aggregator.storage.duplicates import link_duplicates
from aggregator.storage.posts import topics_summary

# progress(done, total): posts walked so far of the posts there are (the CLI's bar).
Progress = Callable[[int, int], None]


def _walk_total(conn: sqlite3.Connection) -> int:
    """Every post a whole-archive walk visits: counted from an index, not the rows."""
    return conn.execute("SELECT count(*) FROM posts").fetchone()[0]


def retag_posts(
    conn: sqlite3.Connection,
    tag: Callable[[str, str, list[str], list[str]], Sequence[tuple[str, str, float]]],
    version: str,
    *,
    batch: int = 2000,
    progress: Progress | None = None,
) -> int:
    """Re-apply the vocabulary to every post, one short transaction per batch.

    `tag(title, text, categories, feed_topics)` gives (topic, source, score)
    triples; rows and posts.topics are rewritten together, so a reader never
    sees a post half-retagged. An editor's choices (storage.corrections) win.
    Batches are read by id (keyset), not from one cursor held across the
    commits: memory stays one batch at any archive size, and no statement is
    left reading rows its own connection is rewriting. Taken-down posts are
    walked (and counted for `progress`) but never tagged.
    """
    done, walked, last = 0, 0, 0
    total = _walk_total(conn) if progress else 0
    while True:
        rows = conn.execute(
            """
            SELECT posts.id, posts.title, posts.text, posts.categories, feeds.topics,
                   posts.removed_at IS NULL
            FROM posts JOIN feeds ON feeds.id = posts.feed_id
            WHERE posts.id > ? ORDER BY posts.id LIMIT ?
            """,
            [last, batch],
        ).fetchall()
        if not rows:
            return done
        live = [r for r in rows if r[5]]
        found = [(r[0], tag(r[1], r[2], json.loads(r[3]), json.loads(r[4]))) for r in live]
        if found:
            with transaction(conn):
                choices = editor_choices(conn, [post_id for post_id, _ in found])
                found = [(i, with_corrections(topics, choices.get(i, {}))) for i, topics in found]
                conn.executemany(
                    "DELETE FROM post_topics WHERE post_id = ?",
                    [(post_id,) for post_id, _ in found],
                )
                conn.executemany(
                    INSERT_TOPIC,
                    [row for i, topics in found for row in topic_rows(i, topics, version)],
                )
                conn.executemany(
                    "UPDATE posts SET topics = ? WHERE id = ?",
                    [(topics_summary(topics), i) for i, topics in found],
                )
        done += len(live)
        walked += len(rows)
        last = rows[-1][0]
        if progress:
            progress(walked, total)


def rebuild_duplicates(
    conn: sqlite3.Connection, *, batch: int = 500, progress: Progress | None = None
) -> int:
    """Forget every duplicate link and index, then link all posts again in id order.

    Processing posts in the order they were stored is what the incremental
    path did, so the clusters come out the same. Sketches missing from posts
    stored before deduplication existed are computed here. Copies of a
    taken-down post keep their link to its tombstone: the tombstone has no
    content left to match, and unlinking them would republish what the
    author asked to remove. Only linked posts are reset (found through the
    duplicate_of index; a reason is only ever stored with a link), so a
    million-post archive is not rewritten row by row before linking starts.
    Batches are read by id, as in retag_posts; `progress` counts every post.
    """
    with transaction(conn):
        conn.execute(
            "UPDATE posts SET duplicate_of = NULL, duplicate_reason = NULL"
            " WHERE duplicate_of IS NOT NULL AND NOT EXISTS (SELECT 1 FROM posts AS root"
            " WHERE root.id = posts.duplicate_of AND root.removed_at IS NOT NULL)"
        )
        conn.execute("DELETE FROM post_lsh")
    linked, walked, last = 0, 0, 0
    total = _walk_total(conn) if progress else 0
    while True:
        rows = conn.execute(
            "SELECT id, text, content_html, url, url_key, minhash,"
            " removed_at IS NULL AND duplicate_of IS NULL AS linkable FROM posts"
            " WHERE id > ? ORDER BY id LIMIT ?",
            [last, batch],
        ).fetchall()
        if not rows:
            return linked
        todo = [r for r in rows if r["linkable"]]
        if todo:
            with transaction(conn):
                for r in todo:
                    if r["minhash"] is None:
                        evidence = evidence_url(r["content_html"], r["url"])
                        conn.execute(
                            "UPDATE posts SET minhash = ?, evidence_key = ? WHERE id = ?",
                            [
                                sketch.pack(sketch.signature(r["text"])) or None,
                                evidence if evidence != r["url_key"] else None,
                                r["id"],
                            ],
                        )
                linked += link_duplicates(conn, [r["id"] for r in todo])
        walked += len(rows)
        last = rows[-1]["id"]
        if progress:
            progress(walked, total)


# A stored post's cleanable parts: (title, author, summary_html, content_html).
Content = tuple[str, str | None, str | None, str | None]


def rewrite_content(
    conn: sqlite3.Connection,
    clean: Callable[[Content, str], Content],
    *,
    task: str,
    version: str,
    now: str,
    batch: int = 1000,
) -> int:
    """Pass every live post's content through `clean(content, feed_url)`.

    Writes only the posts it changes, one short transaction per batch, and
    records `version` of `task` when done; an interrupted pass runs again
    from the start next time (cleaning is idempotent). Returns how many changed.
    """
    changed, last = 0, 0
    while True:
        rows = conn.execute(
            """
            SELECT posts.id, posts.title, posts.author, posts.summary_html,
                   posts.content_html, feeds.url
            FROM posts JOIN feeds ON feeds.id = posts.feed_id
            WHERE posts.id > ? AND posts.removed_at IS NULL ORDER BY posts.id LIMIT ?
            """,
            [last, batch],
        ).fetchall()
        if not rows:
            break
        updates = []
        for post_id, title, author, summary, content, feed_url in rows:
            before = (title, author, summary, content)
            after = clean(before, feed_url)
            if after != before:
                updates.append((*after, post_id))
        if updates:
            with transaction(conn):
                conn.executemany(
                    "UPDATE posts SET title = ?, author = ?, summary_html = ?, content_html = ?"
                    " WHERE id = ?",
                    updates,
                )
        changed += len(updates)
        last = rows[-1][0]
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO private.upkeep (task, version, done_at) VALUES (?, ?, ?)",
            [task, version, now],
        )
    return changed


def redirect_rows(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Moves seen, for `voice redirects`: confirmed and not yet applied first."""
    return conn.execute(
        """
        SELECT feeds.url, feeds.id AS feed_id, redirects.*
        FROM redirects JOIN feeds ON feeds.id = redirects.feed_id
        ORDER BY applied_at IS NOT NULL, confirmed_at IS NULL, feeds.url
        """
    ).fetchall()


def apply_redirect(conn: sqlite3.Connection, feed_id: int, target: str, now: str) -> None:
    """Give the feed row its new URL, so the edited registry matches it (posts stay put)."""
    with transaction(conn):
        conn.execute(
            "UPDATE feeds SET url = ?, pending_redirect = NULL WHERE id = ?", [target, feed_id]
        )
        conn.execute(
            "UPDATE redirects SET applied_at = ? WHERE feed_id = ? AND target = ?",
            [now, feed_id, target],
        )
