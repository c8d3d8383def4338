"""Writing one fetch of one feed in one transaction: posts, feed state, fetch log.

`save_update` is the update cycle's writer (`save_updates` for several
outcomes without posts at once); each of its steps is a function of its own
so a reader can see what one fetch changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from aggregator.models import FeedUpdateRecord, SaveResult
from aggregator.storage.connection import transaction
from aggregator.storage.known import save_blocks
from aggregator.storage.takedown import REMOVED_EXPLANATION

SUCCEEDED = ("ok", "not_modified", "unchanged")
NO_POSTS = SaveResult(0, 0)


def save_update(conn: sqlite3.Connection, rec: FeedUpdateRecord) -> SaveResult:
    """Write one fetch's outcome: posts, feed state and the fetch log, all or nothing."""
    with transaction(conn):
        return _write_update(conn, rec)


def save_updates(
    conn: sqlite3.Connection, recs: Sequence[FeedUpdateRecord]
) -> list[SaveResult]:
    """Several fetches' outcomes in one transaction, all or nothing (issue 13).

    For the cycle's 304s and unchanged bodies, which store no posts: a commit
    and a trip to the writer thread per feed cost a warm cycle about a quarter
    of its CPU.
    """
    with transaction(conn):
        return [_write_update(conn, rec) for rec in recs]


def _write_update(conn: sqlite3.Connection, rec: FeedUpdateRecord) -> SaveResult:
    """One outcome, inside the caller's transaction."""
    rec = _keep_removed(conn, rec)
    result = _save_posts(conn, rec) if rec.entries else NO_POSTS
    if rec.blocks is not None:
        save_blocks(conn, rec.feed_id, rec.blocks)
    if rec.outcome in SUCCEEDED:
        _track_redirect(conn, rec)
    _write_feed_state(conn, rec)
    fetch_id = _log_fetch(conn, rec, result)
    _keep_detail(conn, rec, fetch_id)
    return result


def _save_posts(conn: sqlite3.Connection, rec: FeedUpdateRecord) -> SaveResult:
    """The fetch's new and changed entries, as posts.

    `posts` (and the analysis and linking it needs) is imported at the first
    fetch that brings entries, so a cycle of 304s never loads it.
    """
    from aggregator.storage.posts import save_entries

    return save_entries(
        conn,
        rec.feed_id,
        rec.entries,
        rec.started_at,
        rec.known_keys,
        rec.seen_keys,
        rec.rules_version,
        rec.backfill_keep,
    )


def _keep_detail(conn: sqlite3.Connection, rec: FeedUpdateRecord, fetch_id: int) -> None:
    """The technical message goes to the private file only; a success clears it."""
    if rec.error_detail is None:
        if rec.outcome in SUCCEEDED:
            conn.execute("DELETE FROM private.feed_errors WHERE feed_id = ?", [rec.feed_id])
        return
    conn.execute(
        "INSERT OR REPLACE INTO private.feed_errors (feed_id, error, at) VALUES (?, ?, ?)",
        [rec.feed_id, rec.error_detail, rec.started_at],
    )
    conn.execute(
        "INSERT INTO private.fetch_errors (fetch_id, feed_id, started_at, error)"
        " VALUES (?, ?, ?, ?)",
        [fetch_id, rec.feed_id, rec.started_at, rec.error_detail],
    )


def _keep_removed(conn: sqlite3.Connection, rec: FeedUpdateRecord) -> FeedUpdateRecord:
    """A feed removed while this fetch was in flight stays removed.

    One taken down (`voice remove`) stores nothing more: the fetch's entries
    are dropped before anything is written, so nothing of it turns public.
    """
    status, taken_down = conn.execute(
        "SELECT status, removed_at IS NOT NULL FROM feeds WHERE id = ?", [rec.feed_id]
    ).fetchone()
    if status != "removed":
        return rec
    rec = replace(rec, status="removed", next_check_at=None)
    if not taken_down:
        return rec
    return replace(
        rec,
        entries=(),
        blocks=None,
        backfill_keep=None,
        feed_title=None,  # the blog's details left the public file with it
        site_url=None,
        explanation=REMOVED_EXPLANATION,
    )


def _write_feed_state(conn: sqlite3.Connection, rec: FeedUpdateRecord) -> None:
    """The feed row: status, errors, validators and the next check."""
    succeeded = rec.outcome in SUCCEEDED
    conn.execute(
        """
        UPDATE feeds SET
            status = :status,
            error_kind = :error_kind,
            last_error = :error,
            last_checked_at = :started_at,
            last_success_at = CASE WHEN :succeeded THEN :started_at ELSE last_success_at END,
            etag = CASE WHEN :succeeded THEN :etag ELSE etag END,
            last_modified = CASE WHEN :succeeded THEN :last_modified ELSE last_modified END,
            body_hash = coalesce(:body_hash, body_hash),
            title = coalesce(title, :feed_title),
            site_url = coalesce(site_url, :site_url),
            next_check_at = :next_check_at,
            error_count = :error_count,
            last_http_status = :http_status,
            explanation = :explanation,
            failing_since = :failing_since
        WHERE id = :feed_id
        """,
        {
            "status": rec.status,
            "error_kind": rec.error_kind,
            "error": rec.error,
            "started_at": rec.started_at,
            "succeeded": succeeded,
            "etag": rec.etag,
            "last_modified": rec.last_modified,
            "body_hash": rec.body_hash,
            "feed_title": rec.feed_title,
            "site_url": rec.site_url,
            "next_check_at": rec.next_check_at,
            "error_count": rec.error_count,
            "feed_id": rec.feed_id,
            "http_status": rec.http_status,
            "explanation": rec.explanation,
            "failing_since": rec.failing_since,
        },
    )


def _log_fetch(conn: sqlite3.Connection, rec: FeedUpdateRecord, result: SaveResult) -> int:
    """One row of the fetch log per attempt, with what it stored; its id."""
    cursor = conn.execute(
        """
        INSERT INTO fetches (feed_id, started_at, duration_ms, http_status, outcome,
            error_kind, error, bytes, new_posts, updated_posts, note)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            rec.feed_id,
            rec.started_at,
            rec.duration_ms,
            rec.http_status,
            rec.outcome,
            rec.error_kind,
            rec.error,
            rec.bytes,
            result.new_posts,
            result.updated_posts,
            rec.note,
        ],
    )
    return int(cursor.lastrowid or 0)


def _track_redirect(conn: sqlite3.Connection, rec: FeedUpdateRecord) -> None:
    """Count sightings of a permanent move; a check without it drops pending ones."""
    if rec.permanent_redirect is None:
        if not rec.redirect_pending:
            return  # the usual case: nothing moved before, nothing moves now
        conn.execute(
            "DELETE FROM redirects WHERE feed_id = ? AND confirmed_at IS NULL", [rec.feed_id]
        )
        conn.execute(
            """
            UPDATE feeds SET pending_redirect = (
                SELECT target FROM redirects
                WHERE feed_id = feeds.id AND applied_at IS NULL ORDER BY last_seen_at DESC)
            WHERE id = ?
            """,
            [rec.feed_id],
        )
        return
    times, days = rec.redirect_rule
    conn.execute(
        "DELETE FROM redirects WHERE feed_id = ? AND target != ? AND confirmed_at IS NULL",
        [rec.feed_id, rec.permanent_redirect],
    )
    conn.execute(
        """
        INSERT INTO redirects (feed_id, target, first_seen_at, last_seen_at)
        VALUES (:feed_id, :target, :now, :now)
        ON CONFLICT (feed_id, target) DO UPDATE SET
            last_seen_at = :now, times_seen = times_seen + 1
        """,
        {"feed_id": rec.feed_id, "target": rec.permanent_redirect, "now": rec.started_at},
    )
    conn.execute(
        """
        UPDATE redirects SET confirmed_at = :now
        WHERE feed_id = :feed_id AND target = :target AND confirmed_at IS NULL
          AND times_seen >= :times
          AND julianday(last_seen_at) - julianday(first_seen_at) >= :days
        """,
        {
            "feed_id": rec.feed_id,
            "target": rec.permanent_redirect,
            "now": rec.started_at,
            "times": times,
            "days": days,
        },
    )
    conn.execute(
        "UPDATE feeds SET pending_redirect = ? WHERE id = ?",
        [rec.permanent_redirect, rec.feed_id],
    )
