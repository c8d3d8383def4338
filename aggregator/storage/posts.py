"""SQLite storage: the schema is the public contract (see docs/schema.md).

WAL lets Datasette read while the fetcher writes; each feed's update is one
short BEGIN IMMEDIATE transaction, so a crash leaves every feed either fully
old or fully new, and a writer never waits half-way through for a lock.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from aggregator.analysis import identity as dedupe
from aggregator.analysis import similarity
from aggregator.errors import StoreError
from aggregator.models import EntryData
from aggregator.storage.duplicates import link_duplicates

BUSY_TIMEOUT_MS = 15_000
SCHEDULABLE = "status NOT IN ('gone', 'removed')"

# Names of the numbered migrations in aggregator/migrations.py, newest last.
# Listed here so that opening an up-to-date database needs no sqlite-utils import.
MIGRATIONS = (
    "0001_initial",
    "0002_feed_lifecycle",
    "0003_topics_and_duplicates",
    "0004_fts_on_text_changes",
)
MIGRATION_SET = "voice"


@dataclass(frozen=True)
class FeedState:
    """A feed as the database knows it, for deciding what to fetch and how."""

    id: int
    url: str
    title: str | None
    region: str | None
    organisation: str | None
    status: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    error_count: int
    next_check_at: str | None
    last_success_at: str | None = None
    failing_since: str | None = None
    interval_minutes: int | None = None
    pending_redirect: str | None = None
    topics: str = "[]"  # the blog's default topics (JSON), for tagging in the worker
    recent_published: tuple[datetime, ...] = ()  # newest posts' dates: the feed's rhythm


@dataclass(frozen=True)
class FeedUpdateRecord:
    """Everything one fetch of one feed changes, written in one transaction."""

    feed_id: int
    started_at: str
    duration_ms: int
    outcome: str  # ok, not_modified, unchanged, error, gone
    status: str
    next_check_at: str | None
    error_count: int
    http_status: int | None = None
    bytes: int = 0
    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    feed_title: str | None = None
    site_url: str | None = None
    error_kind: str | None = None
    error: str | None = None
    note: str | None = None
    entries: tuple[EntryData, ...] = ()
    known_keys: frozenset[str] = frozenset()  # entry keys stored before this fetch
    seen_keys: frozenset[str] = frozenset()  # every entry key in the fetched document
    redirect_pending: bool = False  # the feed had a redirect recorded before this fetch
    rules_version: str | None = None  # the vocabulary that tagged `entries`, if any
    explanation: str | None = None
    failing_since: str | None = None
    backfill_keep: int | None = None  # first fetch: all but the newest N are back catalogue
    permanent_redirect: str | None = None  # a 301/308 target seen on this (successful) fetch
    redirect_rule: tuple[int, int] = (3, 2)  # confirm after N sightings over at least D days


@dataclass(frozen=True)
class SaveResult:
    new_posts: int
    updated_posts: int


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database."""
    if not path.parent.exists():
        raise StoreError(f"{path.parent}: directory does not exist (pass --db PATH)")
    try:
        # check_same_thread=False: the update stage hands the connection to its one
        # writer thread; it is never used from two threads at once.
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint every ~40 MB of WAL instead of 4 MB: the FTS index pages a
        # cycle rewrites in every transaction are then copied back once, not
        # dozens of times (about a tenth less CPU on a cold cycle).
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        if not _up_to_date(conn):
            from aggregator.storage.migrations import apply_migrations

            with transaction(conn):
                apply_migrations(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the database: {exc}") from exc
    return conn


def _up_to_date(conn: sqlite3.Connection) -> bool:
    try:
        rows = conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [MIGRATION_SET]
        )
    except sqlite3.OperationalError:  # a new database: no migrations table yet
        return False
    return set(MIGRATIONS) <= {row[0] for row in rows}


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE: take the write lock up front so we never deadlock mid-way.

    Any SQLite failure rolls everything back and becomes a StoreError, which
    the CLI reports in one line (exit 3).
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot write to the database: {exc}") from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"cannot write to the database: {exc}") from exc
        raise


def known_entries(conn: sqlite3.Connection, feed_id: int) -> dict[str, str]:
    """entry_key -> raw_hash, so the parser can skip entries that have not changed."""
    rows = conn.execute("SELECT entry_key, raw_hash FROM posts WHERE feed_id = ?", [feed_id])
    return {r[0]: r[1] for r in rows}


_UPSERT_POST = """
    INSERT INTO posts (feed_id, entry_key, guid, url, title, author, published, updated,
        first_seen_at, summary_html, content_html, text, region, organisation, categories,
        topics, raw_hash, url_key, content_key, evidence_key, minhash)
    VALUES (:feed_id, :entry_key, :guid, :url, :title, :author, coalesce(:published, :now),
        coalesce(:updated, :published, :now), :now, :summary_html, :content_html, :text,
        :region, :organisation, :categories, :topics, :raw_hash, :url_key, :content_key,
        :evidence_key, :minhash)
    ON CONFLICT (feed_id, entry_key) DO UPDATE SET
        guid = excluded.guid, url = excluded.url, title = excluded.title,
        author = excluded.author, published = coalesce(:published, posts.published),
        updated = coalesce(:updated, :published, posts.updated),
        summary_html = excluded.summary_html, content_html = excluded.content_html,
        text = excluded.text,
        categories = excluded.categories, topics = excluded.topics,
        raw_hash = excluded.raw_hash, url_key = excluded.url_key,
        content_key = excluded.content_key,
        evidence_key = excluded.evidence_key, minhash = excluded.minhash
    WHERE posts.raw_hash IS NOT excluded.raw_hash OR posts.topics IS NOT excluded.topics
"""


_MOVE_POST = """
    UPDATE posts SET entry_key = :entry_key, guid = :guid, url = :url, title = :title,
        author = :author, published = coalesce(:published, published),
        updated = coalesce(:updated, :published, updated), summary_html = :summary_html,
        content_html = :content_html, text = :text, categories = :categories,
        topics = :topics, raw_hash = :raw_hash, url_key = :url_key, content_key = :content_key,
        evidence_key = :evidence_key, minhash = :minhash
    WHERE id = :id
"""


def _save_entries(
    conn: sqlite3.Connection,
    feed_id: int,
    entries: Sequence[EntryData],
    now: str,
    known_keys: frozenset[str],
    seen_keys: frozenset[str] = frozenset(),
    rules_version: str | None = None,
) -> SaveResult:
    """Insert new entries, update changed ones in place, and recognise moved ones.

    The parse stage only hands over entries that are new or whose raw hash
    changed, so an entry already known is an update. An unknown key on a feed
    that has posts may be a post whose GUID changed (http to https, a new
    platform): if dedupe.find_moved_entry recognises it, that row takes the new
    key instead of a second copy being stored.
    """
    if not entries:
        return SaveResult(0, 0)
    feed = conn.execute(
        "SELECT region, organisation, topics FROM feeds WHERE id = ?", [feed_id]
    ).fetchone()
    upserts, moves = [], []
    taken: set[int] = set()
    feed_topics = json.loads(feed["topics"])
    found = {e.entry_key: _found_topics(e, feed_topics, rules_version) for e in entries}
    for e in entries:
        keys = dedupe.entry_keys(e)
        values = {
            "feed_id": feed_id,
            "entry_key": e.entry_key,
            "guid": e.guid,
            "url": e.url,
            "title": e.title,
            "author": e.author,
            "published": e.published,
            "updated": e.updated,
            "summary_html": e.summary_html,
            "content_html": e.content_html,
            "text": e.text,
            "categories": json.dumps(list(e.categories)),
            "raw_hash": e.raw_hash,
            "now": now,
            "region": feed["region"],
            "organisation": feed["organisation"],
            "topics": topics_summary(found[e.entry_key]),
            "url_key": keys.url_key,
            "content_key": keys.content_key,
            "evidence_key": e.evidence_key,
            "minhash": similarity.pack(e.minhash) if e.minhash else None,
        }
        moved = None
        if known_keys and e.entry_key not in known_keys:
            moved = _moved_from(conn, feed_id, keys, seen_keys)
            if moved in taken:  # two new entries claim one old post: keep both as posts
                moved = None
        if moved is None:
            upserts.append(values)
        else:
            taken.add(moved)
            moves.append({**values, "id": moved})
    conn.executemany(_UPSERT_POST, upserts)
    conn.executemany(_MOVE_POST, moves)
    new_ids = _save_topics(conn, feed_id, found, rules_version or "feeds.yaml")
    link_duplicates(
        conn, [new_ids[v["entry_key"]] for v in upserts if v["entry_key"] not in known_keys]
    )
    updated = sum(1 for v in upserts if v["entry_key"] in known_keys) + len(moves)
    return SaveResult(len(entries) - updated, updated)


def _found_topics(
    entry: EntryData, feed_topics: list[str], rules_version: str | None
) -> tuple[tuple[str, str, float], ...]:
    """(topic, source, score) for an entry: tagged in the worker, else the blog's defaults."""
    return entry.topics if rules_version else tuple((t, "feed", 1.0) for t in feed_topics)


def topics_summary(found: Sequence[tuple[str, str, float]]) -> str:
    """posts.topics: the JSON array of the slugs in a post's post_topics rows, sorted."""
    return json.dumps(sorted({topic for topic, _, _ in found}))


def _save_topics(
    conn: sqlite3.Connection,
    feed_id: int,
    found: dict[str, tuple[tuple[str, str, float], ...]],
    version: str,
) -> dict[str, int]:
    """post_topics rows for the entries just saved (posts.topics went in with the row).

    `found` maps each entry key to its (topic, source, score) assignments;
    the result maps each entry key to its post id.
    """
    keys = list(found)
    ids = dict(
        conn.execute(
            f"SELECT entry_key, id FROM posts WHERE feed_id = ? AND entry_key IN "
            f"({','.join('?' * len(keys))})",
            [feed_id, *keys],
        ).fetchall()
    )
    rows, saved = [], []
    for key, topics in found.items():
        post_id = ids.get(key)
        if post_id is None:
            continue
        rows += [(post_id, topic, source, score, version) for topic, source, score in topics]
        saved.append((post_id,))
    conn.executemany("DELETE FROM post_topics WHERE post_id = ?", saved)
    conn.executemany("INSERT INTO post_topics VALUES (?, ?, ?, ?, ?)", rows)
    return ids


def _moved_from(
    conn: sqlite3.Connection, feed_id: int, keys: dedupe.EntryKeys, seen: frozenset[str]
) -> int | None:
    rows = conn.execute(
        """
        SELECT id, entry_key, url_key, content_key FROM posts
        WHERE feed_id = :feed_id AND (url_key = :url_key OR content_key = :content_key)
        """,
        {"feed_id": feed_id, "url_key": keys.url_key, "content_key": keys.content_key},
    ).fetchall()
    existing = [dedupe.ExistingPost(r[0], r[1], r[2], r[3] or "") for r in rows]
    return dedupe.find_moved_entry(keys, existing, still_in_feed=seen)


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


def save_update(conn: sqlite3.Connection, rec: FeedUpdateRecord) -> SaveResult:
    """Write one fetch's outcome: posts, feed state and the fetch log, all or nothing."""
    with transaction(conn):
        result = _save_entries(
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
        if rec.outcome in ("ok", "not_modified", "unchanged"):
            _track_redirect(conn, rec)
        removed = conn.execute(
            "SELECT status = 'removed' FROM feeds WHERE id = ?", [rec.feed_id]
        ).fetchone()[0]
        if removed:  # removed while this fetch was in flight: it stays removed
            rec = replace(rec, status="removed", next_check_at=None)
            conn.execute(
                """
                UPDATE posts SET hidden = 1 WHERE feed_id = :id AND hidden = 0
                  AND EXISTS (SELECT 1 FROM removals WHERE feed_id = :id)
                """,
                {"id": rec.feed_id},
            )
        succeeded = rec.outcome in ("ok", "not_modified", "unchanged")
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
    return result
