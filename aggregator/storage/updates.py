"""Writing one fetch of one feed in one transaction: posts, feed state, fetch log.

`save_update` is the only writer the update cycle calls; each of its steps is
a function of its own so a reader can see what one fetch changes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from aggregator.models import FeedUpdateRecord
from aggregator.storage.connection import transaction
from aggregator.storage.posts import SaveResult, save_entries

SUCCEEDED = ("ok", "not_modified", "unchanged")


def save_update(conn: sqlite3.Connection, rec: FeedUpdateRecord) -> SaveResult:
    """Write one fetch's outcome: posts, feed state and the fetch log, all or nothing."""
    with transaction(conn):
        result = save_entries(
            conn,
            rec.feed_id,
            rec.entries,
            rec.started_at,
            rec.known_keys,
            rec.seen_keys,
            rec.rules_version,
        )
        if rec.backfill_keep is not None and result.new_posts:
            _mark_backfill(conn, rec.feed_id, rec.backfill_keep)
        if rec.outcome in SUCCEEDED:
            _track_redirect(conn, rec)
        rec = _keep_removed(conn, rec)
        _write_feed_state(conn, rec)
        _log_fetch(conn, rec, result)
    return result


def _keep_removed(conn: sqlite3.Connection, rec: FeedUpdateRecord) -> FeedUpdateRecord:
    """A feed taken down while this fetch was in flight stays down, new posts hidden too."""
    removed = conn.execute(
        "SELECT status = 'removed' FROM feeds WHERE id = ?", [rec.feed_id]
    ).fetchone()[0]
    if not removed:
        return rec
    conn.execute(
        """
        UPDATE posts SET hidden = 1 WHERE feed_id = :id AND hidden = 0
          AND EXISTS (SELECT 1 FROM removals WHERE feed_id = :id)
        """,
        {"id": rec.feed_id},
    )
    return replace(rec, status="removed", next_check_at=None)


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


def _log_fetch(conn: sqlite3.Connection, rec: FeedUpdateRecord, result: SaveResult) -> None:
    """One row of the fetch log per attempt, with what it stored."""
    conn.execute(
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


def _mark_backfill(conn: sqlite3.Connection, feed_id: int, keep: int) -> None:
    """A blog's back catalogue: all its posts but the newest `keep` (first fetch only)."""
    conn.execute(
        """
        UPDATE posts SET is_backfill = 1
        WHERE feed_id = :feed_id AND id NOT IN (
            SELECT id FROM posts WHERE feed_id = :feed_id
            ORDER BY published DESC, id LIMIT :keep)
        """,
        {"feed_id": feed_id, "keep": keep},
    )
