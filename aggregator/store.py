"""SQLite storage: the schema is the public contract (see docs/schema.md).

WAL lets Datasette read while the fetcher writes; each feed's update is one
short BEGIN IMMEDIATE transaction, so a crash leaves every feed either fully
old or fully new, and a writer never waits half-way through for a lock.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from . import dedupe, similarity
from .errors import StoreError
from .models import EntryData, FeedSource

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
            from .migrations import apply_migrations

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


def sync_feeds(conn: sqlite3.Connection, sources: Sequence[FeedSource], now: str) -> None:
    """Make the feeds table match the registry; feeds dropped from it are kept as 'removed'."""
    with transaction(conn):
        before = {
            r[0]: (r[1], r[2], r[3])
            for r in conn.execute("SELECT url, topics, region, organisation FROM feeds")
        }
        urls = []
        for src in sources:
            urls.append(src.url)
            conn.execute(
                """
                INSERT INTO feeds (url, title, site_url, author, organisation, region, topics,
                                   interval_minutes, added_at)
                VALUES (:url, :title, :site_url, :author, :organisation, :region, :topics,
                        :interval_minutes, :now)
                ON CONFLICT (url) DO UPDATE SET
                    title = coalesce(excluded.title, feeds.title),
                    site_url = coalesce(excluded.site_url, feeds.site_url),
                    author = excluded.author, organisation = excluded.organisation,
                    region = excluded.region, topics = excluded.topics,
                    interval_minutes = excluded.interval_minutes,
                    status = CASE WHEN feeds.status = 'removed' THEN 'new' ELSE feeds.status END
                WHERE feeds.title IS NOT coalesce(excluded.title, feeds.title)
                   OR feeds.site_url IS NOT coalesce(excluded.site_url, feeds.site_url)
                   OR feeds.author IS NOT excluded.author
                   OR feeds.organisation IS NOT excluded.organisation
                   OR feeds.region IS NOT excluded.region
                   OR feeds.topics IS NOT excluded.topics
                   OR feeds.interval_minutes IS NOT excluded.interval_minutes
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
                    "now": now,
                },
            )
        moved = [
            src.url
            for src in sources
            if src.url in before and before[src.url][1:] != (src.region, src.organisation)
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
        placeholders = ",".join("?" * len(urls))
        conn.execute(
            f"UPDATE feeds SET status = 'removed', next_check_at = NULL"
            f" WHERE status != 'removed' AND url NOT IN ({placeholders})",
            urls,
        )


def retag_posts(
    conn: sqlite3.Connection,
    tag: Callable[[str, str, list[str], list[str]], Sequence[tuple[str, str, float]]],
    version: str,
    *,
    batch: int = 2000,
) -> int:
    """Re-apply the vocabulary to every post, one short transaction per batch.

    `tag(title, text, categories, feed_topics)` gives (topic, source, score)
    triples; rows and posts.topics are rewritten together, so a reader never
    sees a post half-retagged.
    """
    done, last = 0, 0
    while True:
        rows = conn.execute(
            """
            SELECT posts.id, posts.title, posts.text, posts.categories, feeds.topics
            FROM posts JOIN feeds ON feeds.id = posts.feed_id
            WHERE posts.id > ? ORDER BY posts.id LIMIT ?
            """,
            [last, batch],
        ).fetchall()
        if not rows:
            return done
        found = [(r[0], tag(r[1], r[2], json.loads(r[3]), json.loads(r[4]))) for r in rows]
        with transaction(conn):
            conn.executemany(
                "DELETE FROM post_topics WHERE post_id = ?", [(post_id,) for post_id, _ in found]
            )
            conn.executemany(
                "INSERT INTO post_topics VALUES (?, ?, ?, ?, ?)",
                [(i, t, src, score, version) for i, topics in found for t, src, score in topics],
            )
            conn.executemany(
                "UPDATE posts SET topics = ? WHERE id = ?",
                [(json.dumps(sorted({t for t, _, _ in topics})), i) for i, topics in found],
            )
        done += len(rows)
        last = rows[-1][0]


def _apply_feed_topics(conn: sqlite3.Connection, urls: list[str]) -> None:
    """A blog's default topics changed in feeds.yaml: update its posts' "feed" topics."""
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
        WHERE p.feed_id IN {feeds}
        """,
        urls,
    )
    conn.execute(
        f"""
        UPDATE posts SET topics = coalesce((
            SELECT json_group_array(topic) FROM (
                SELECT topic FROM post_topics WHERE post_id = posts.id ORDER BY topic)), '[]')
        WHERE feed_id IN {feeds}
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


def _recent_published(
    conn: sqlite3.Connection, feed_ids: Sequence[int], per_feed: int = 20
) -> dict[int, tuple[datetime, ...]]:
    """The selected feeds' newest post dates in one query, for the schedule's rhythm.

    Only the feeds this cycle checks: a `voice run` cycle with two feeds due
    reads their posts, not the whole archive.
    """
    found: dict[int, list[datetime]] = {}
    marks = ",".join("?" * len(feed_ids))
    for feed_id, published in conn.execute(
        f"""
        SELECT feed_id, published FROM (
            SELECT feed_id, published,
                   row_number() OVER (PARTITION BY feed_id ORDER BY published DESC) AS n
            FROM posts WHERE feed_id IN ({marks}))
        WHERE n <= ?
        """,
        [*feed_ids, per_feed],
    ):
        found.setdefault(feed_id, []).append(datetime.fromisoformat(published))
    return {k: tuple(v) for k, v in found.items()}


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
    WHERE posts.raw_hash IS NOT excluded.raw_hash
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
            "topics": json.dumps(
                sorted({t for t, _, _ in _found_topics(e, feed_topics, rules_version)})
            ),
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
    new_ids = _save_topics(conn, feed_id, entries, feed_topics, rules_version)
    link_duplicates(
        conn, [new_ids[v["entry_key"]] for v in upserts if v["entry_key"] not in known_keys]
    )
    updated = sum(1 for v in upserts if v["entry_key"] in known_keys) + len(moves)
    return SaveResult(len(entries) - updated, updated)


_FINGERPRINT_SQL = """
    SELECT posts.id, posts.feed_id, posts.author, posts.published, posts.url_key,
           posts.evidence_key, posts.title, posts.content_key, posts.minhash,
           posts.duplicate_of, posts.text, feeds.author IS NOT NULL AS own_blog
    FROM posts JOIN feeds ON feeds.id = posts.feed_id
"""


def _fingerprint(row: sqlite3.Row, exact: bool = False) -> similarity.Fingerprint:
    return similarity.Fingerprint(
        post_id=row["id"],
        feed_id=row["feed_id"],
        author=row["author"],
        published=datetime.fromisoformat(row["published"]),  # "...Z": aware UTC
        url_key=row["url_key"],
        evidence_key=row["evidence_key"],
        title_key=dedupe.title_key(row["title"]),
        content_key=row["content_key"] or "",
        title_numbers=similarity.title_numbers(row["title"]),
        signature=similarity.unpack(row["minhash"]),
        own_blog=bool(row["own_blog"]),
        shingle_set=similarity.comparable_shingles(row["text"]) if exact else frozenset(),
    )


def link_duplicates(conn: sqlite3.Connection, post_ids: Sequence[int]) -> int:
    """Make each new post a copy of an earlier one, or the canonical of its copies.

    Candidates come only through indexes (same URL key, a claimed original,
    same content key, a shared MinHash band) and only among earlier posts, so
    a rebuild in id order repeats the incremental decisions; the rules
    and their guards are similarity.duplicate_match. Every post stays stored:
    copies point at one canonical post through duplicate_of, with the rule
    and score in duplicate_reason. Returns how many new posts were linked.
    """
    linked = 0
    for post_id in sorted(post_ids):  # earlier posts first, as they were stored
        row = conn.execute(_FINGERPRINT_SQL + " WHERE posts.id = ?", [post_id]).fetchone()
        if row is None:
            continue
        new = _fingerprint(row)
        bands = similarity.band_keys(new.signature) if new.signature else ()
        conn.executemany(
            "INSERT OR IGNORE INTO post_lsh (band, post_id) VALUES (?, ?)",
            [(band, post_id) for band in bands],
        )
        candidates = _candidates(conn, new, bands)
        if candidates:  # few: compare exact shingles, not the signatures' estimate
            new = replace(new, shingle_set=similarity.comparable_shingles(row["text"]))
        matches = [
            (root, match)
            for old, root in candidates
            if (match := similarity.duplicate_match(new, old)) is not None
        ]
        if not matches:
            continue
        root_id, match = max(matches, key=lambda m: m[1].score)
        root_row = conn.execute(_FINGERPRINT_SQL + " WHERE posts.id = ?", [root_id]).fetchone()
        root = _fingerprint(root_row)
        canonical = similarity.choose_canonical([root, new])
        reason = f"{match.rule} {match.score:.2f}"
        if canonical == new.post_id:  # the member's own copy arrived later: it leads
            conn.execute(
                "UPDATE posts SET duplicate_of = ?, duplicate_reason = ? "
                "WHERE id = ? OR duplicate_of = ?",
                [new.post_id, reason, root_id, root_id],
            )
        else:
            conn.execute(
                "UPDATE posts SET duplicate_of = ?, duplicate_reason = ? WHERE id = ?",
                [root_id, reason, post_id],
            )
        linked += 1
    return linked


def rebuild_duplicates(conn: sqlite3.Connection, *, batch: int = 500) -> int:
    """Forget every duplicate link and index, then link all posts again in id order.

    Processing posts in the order they were stored is what the incremental
    path did, so the clusters come out the same. Sketches missing from posts
    stored before deduplication existed are computed here.
    """
    with transaction(conn):
        conn.execute("UPDATE posts SET duplicate_of = NULL, duplicate_reason = NULL")
        conn.execute("DELETE FROM post_lsh")
    linked, last = 0, 0
    while True:
        rows = conn.execute(
            "SELECT id, text, content_html, url, url_key, minhash FROM posts"
            " WHERE id > ? ORDER BY id LIMIT ?",
            [last, batch],
        ).fetchall()
        if not rows:
            return linked
        with transaction(conn):
            for r in rows:
                if r["minhash"] is None:
                    evidence = similarity.evidence_url(r["content_html"], r["url"])
                    conn.execute(
                        "UPDATE posts SET minhash = ?, evidence_key = ? WHERE id = ?",
                        [
                            similarity.pack(similarity.signature(r["text"])) or None,
                            evidence if evidence != r["url_key"] else None,
                            r["id"],
                        ],
                    )
            linked += link_duplicates(conn, [r["id"] for r in rows])
        last = rows[-1]["id"]


def _candidates(
    conn: sqlite3.Connection, new: similarity.Fingerprint, bands: Sequence[str], limit: int = 50
) -> list[tuple[similarity.Fingerprint, int]]:
    """Posts that may be the same as `new`, each with the canonical post of its cluster."""
    clauses, params = [], []
    for column, value in (
        ("url_key", new.url_key),
        ("url_key", new.evidence_key),
        ("evidence_key", new.url_key),
        ("evidence_key", new.evidence_key),
    ):
        if value:
            clauses.append(f"posts.{column} = ?")
            params.append(value)
    if new.content_key.startswith("c:"):
        clauses.append("posts.content_key = ?")
        params.append(new.content_key)
    if bands:
        marks = ",".join("?" * len(bands))
        clauses.append(f"posts.id IN (SELECT post_id FROM post_lsh WHERE band IN ({marks}))")
        params.extend(bands)
    if not clauses:
        return []
    rows = conn.execute(
        _FINGERPRINT_SQL + f" WHERE posts.id < ? AND posts.hidden = 0 AND ({' OR '.join(clauses)})"
        f" ORDER BY posts.id LIMIT {limit}",
        [new.post_id, *params],
    ).fetchall()
    return [(_fingerprint(r, exact=True), r["duplicate_of"] or r["id"]) for r in rows]


def _found_topics(
    entry: EntryData, feed_topics: list[str], rules_version: str | None
) -> tuple[tuple[str, str, float], ...]:
    """(topic, source, score) for an entry: tagged in the worker, else the blog's defaults."""
    return entry.topics if rules_version else tuple((t, "feed", 1.0) for t in feed_topics)


def _save_topics(
    conn: sqlite3.Connection,
    feed_id: int,
    entries: Sequence[EntryData],
    feed_topics: list[str],
    rules_version: str | None,
) -> dict[str, int]:
    """post_topics rows for the entries just saved (posts.topics went in with the row).

    Entries tagged in the worker bring their assignments; without a vocabulary
    the blog's default topics are recorded (source "feed").
    """
    keys = [e.entry_key for e in entries]
    ids = dict(
        conn.execute(
            f"SELECT entry_key, id FROM posts WHERE feed_id = ? AND entry_key IN "
            f"({','.join('?' * len(keys))})",
            [feed_id, *keys],
        ).fetchall()
    )
    version = rules_version or "feeds.yaml"
    rows, saved = [], []
    for e in entries:
        post_id = ids.get(e.entry_key)
        if post_id is None:
            continue
        found = _found_topics(e, feed_topics, rules_version)
        rows += [(post_id, topic, source, score, version) for topic, source, score in found]
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


@dataclass(frozen=True)
class RemovalResult:
    feed_found: bool
    posts_hidden: int


def remove_feed(
    conn: sqlite3.Connection, url: str, *, reason: str, removed_by: str, now: str
) -> RemovalResult:
    """A takedown: stop polling, hide the posts from public views, keep an audit row.

    Nothing is deleted: the posts stay (hidden = 1) so the decision can be
    reviewed or reversed, and `removals` says who did it, when and why.
    """
    with transaction(conn):
        feed = conn.execute("SELECT id FROM feeds WHERE url = ?", [url]).fetchone()
        feed_id = feed["id"] if feed else None
        hidden = 0
        if feed_id is not None:
            conn.execute(
                "UPDATE feeds SET status = 'removed', next_check_at = NULL WHERE id = ?",
                [feed_id],
            )
            hidden = conn.execute(
                "UPDATE posts SET hidden = 1 WHERE feed_id = ? AND hidden = 0", [feed_id]
            ).rowcount
        conn.execute(
            """
            INSERT INTO removals (feed_id, url, reason, removed_by, removed_at, posts_hidden)
            VALUES (?, ?, ?, ?, ?, ?)
            """,
            [feed_id, url, reason, removed_by, now, hidden],
        )
    return RemovalResult(feed_id is not None, hidden)


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


PROBLEM = "(status IN ('error', 'failing', 'gone') OR pending_redirect IS NOT NULL)"


def feed_rows(conn: sqlite3.Connection, *, problems_only: bool = False) -> list[sqlite3.Row]:
    """Feeds for `voice status`, problems first."""
    where = f"WHERE {PROBLEM}" if problems_only else ""
    return conn.execute(
        f"""
        SELECT url, title, region, status, error_kind, last_error, explanation,
               last_success_at, next_check_at, error_count, pending_redirect,
               (SELECT count(*) FROM posts WHERE posts.feed_id = feeds.id) AS posts
        FROM feeds {where}
        ORDER BY NOT {PROBLEM}, status = 'removed', url
        """
    ).fetchall()
