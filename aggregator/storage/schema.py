"""The schema's numbered steps: the public contract, as it grew (docs/schema.md).

Each step only adds, and uses nothing but SQL and sqlite-utils' table helpers:
an old step must give the same schema whatever Voice's code says today.
Columns derived by Voice's rules (entry keys) are filled by `keys`, not here.
`STEPS` is the one list of names: `connection` checks it without importing
sqlite-utils, and `migrations` registers it with sqlite-utils.
Add a new step at the end of STEPS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

MIGRATION_SET = "voice"


def _m0001_initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,
            title TEXT,
            site_url TEXT,
            author TEXT,
            organisation TEXT,
            region TEXT,
            topics TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL DEFAULT 'new',
            error_kind TEXT,
            last_error TEXT,
            last_checked_at TEXT,
            last_success_at TEXT,
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            next_check_at TEXT,
            error_count INTEGER NOT NULL DEFAULT 0,
            added_at TEXT NOT NULL
        );
        CREATE TABLE posts (
            id INTEGER PRIMARY KEY,
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            entry_key TEXT NOT NULL,
            guid TEXT,
            url TEXT,
            title TEXT NOT NULL DEFAULT '',
            author TEXT,
            published TEXT NOT NULL,
            updated TEXT,
            first_seen_at TEXT NOT NULL,
            summary_html TEXT,
            content_html TEXT,
            text TEXT NOT NULL DEFAULT '',
            region TEXT,
            organisation TEXT,
            categories TEXT NOT NULL DEFAULT '[]',
            topics TEXT NOT NULL DEFAULT '[]',
            duplicate_of INTEGER REFERENCES posts(id),
            raw_hash TEXT NOT NULL,
            UNIQUE (feed_id, entry_key)
        );
        CREATE INDEX posts_published ON posts(published DESC);
        CREATE INDEX posts_region ON posts(region);
        CREATE INDEX posts_organisation ON posts(organisation);
        CREATE TABLE fetches (
            id INTEGER PRIMARY KEY,
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            started_at TEXT NOT NULL,
            duration_ms INTEGER NOT NULL,
            http_status INTEGER,
            outcome TEXT NOT NULL,
            error_kind TEXT,
            error TEXT,
            bytes INTEGER NOT NULL DEFAULT 0,
            new_posts INTEGER NOT NULL DEFAULT 0,
            updated_posts INTEGER NOT NULL DEFAULT 0,
            note TEXT
        );
        CREATE INDEX fetches_feed ON fetches(feed_id, started_at);
        """
    )
    db["posts"].enable_fts(["title", "text"], fts_version="FTS5", create_triggers=True)


def _m0002_feed_lifecycle(db: sqlite_utils.Database) -> None:
    """Health, redirects, back-catalogue and takedowns (issue 3); only additions."""
    for statement in (
        "ALTER TABLE feeds ADD COLUMN last_http_status INTEGER",
        "ALTER TABLE feeds ADD COLUMN explanation TEXT",
        "ALTER TABLE feeds ADD COLUMN failing_since TEXT",
        "ALTER TABLE feeds ADD COLUMN pending_redirect TEXT",
        "ALTER TABLE feeds ADD COLUMN interval_minutes INTEGER",
        "ALTER TABLE posts ADD COLUMN is_backfill INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE posts ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE posts ADD COLUMN url_key TEXT",
        "ALTER TABLE posts ADD COLUMN content_key TEXT",
        """
        CREATE TABLE redirects (
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            target TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            times_seen INTEGER NOT NULL DEFAULT 1,
            confirmed_at TEXT,
            applied_at TEXT,
            PRIMARY KEY (feed_id, target)
        )
        """,
        """
        CREATE TABLE removals (
            id INTEGER PRIMARY KEY,
            feed_id INTEGER REFERENCES feeds(id),
            url TEXT NOT NULL,
            reason TEXT NOT NULL,
            removed_by TEXT NOT NULL,
            removed_at TEXT NOT NULL,
            posts_hidden INTEGER NOT NULL
        )
        """,
        """
        CREATE VIEW posts_public AS
        SELECT * FROM posts WHERE hidden = 0
        """,
        """
        CREATE VIEW river AS
        SELECT id, published, title, url, author, organisation, region, topics, summary_html,
               content_html, feed_id
        FROM posts WHERE hidden = 0 AND is_backfill = 0
        ORDER BY published DESC
        """,
    ):
        db.execute(statement)


def _m0003_topics_and_duplicates(db: sqlite_utils.Database) -> None:
    """Topic tagging and cross-feed duplicates (issue 4); views show canonical posts."""
    for statement in (
        "ALTER TABLE posts ADD COLUMN duplicate_reason TEXT",
        "ALTER TABLE posts ADD COLUMN evidence_key TEXT",
        "ALTER TABLE posts ADD COLUMN minhash BLOB",
        "CREATE INDEX posts_evidence_key ON posts(evidence_key)",
        """
        CREATE TABLE post_topics (
            post_id INTEGER NOT NULL REFERENCES posts(id),
            topic TEXT NOT NULL,
            source TEXT NOT NULL,
            score REAL NOT NULL,
            rules_version TEXT NOT NULL,
            PRIMARY KEY (post_id, topic)
        )
        """,
        "CREATE INDEX post_topics_topic ON post_topics(topic, post_id)",
        """
        CREATE TABLE post_lsh (
            band TEXT NOT NULL,
            post_id INTEGER NOT NULL REFERENCES posts(id),
            PRIMARY KEY (band, post_id)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX posts_url_key ON posts(url_key)",
        "CREATE INDEX posts_content_key ON posts(content_key)",
        # The public pages filter on duplicate_of and hidden, sort by published and
        # facet by region and organisation: one covering index serves them all
        # at 100,000 posts (and the lookups of a cluster's copies).
        "CREATE INDEX posts_public_order"
        " ON posts(duplicate_of, hidden, published, region, organisation)",
        "DROP VIEW posts_public",
        "DROP VIEW river",
        """
        CREATE VIEW posts_public AS
        SELECT * FROM posts WHERE hidden = 0 AND duplicate_of IS NULL
        """,
        """
        CREATE VIEW river AS
        SELECT id, published, title, url, author, organisation, region, topics, summary_html,
               content_html, feed_id
        FROM posts WHERE hidden = 0 AND is_backfill = 0 AND duplicate_of IS NULL
        ORDER BY published DESC
        """,
    ):
        db.execute(statement)


def _m0004_fts_on_text_changes(db: sqlite_utils.Database) -> None:
    """Re-index a post for search only when its title or text changes.

    The update trigger from 0001 fired on every UPDATE of posts, so setting
    topics, a duplicate link, is_backfill or hidden made FTS5 tokenise the
    whole text twice more (once to delete, once to insert) for nothing; an
    edit that changes only a date or the HTML around the same text is also
    left alone.
    """
    db.executescript(
        """
        DROP TRIGGER posts_au;
        CREATE TRIGGER posts_au AFTER UPDATE OF title, text ON posts
        WHEN old.title IS NOT new.title OR old.text IS NOT new.text BEGIN
          INSERT INTO posts_fts (posts_fts, rowid, title, text)
            VALUES ('delete', old.rowid, old.title, old.text);
          INSERT INTO posts_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
        END;
        """
    )


STEPS: tuple[tuple[str, Callable[[sqlite_utils.Database], None]], ...] = (
    ("0001_initial", _m0001_initial),
    ("0002_feed_lifecycle", _m0002_feed_lifecycle),
    ("0003_topics_and_duplicates", _m0003_topics_and_duplicates),
    ("0004_fts_on_text_changes", _m0004_fts_on_text_changes),
)
MIGRATIONS = tuple(name for name, _ in STEPS)
