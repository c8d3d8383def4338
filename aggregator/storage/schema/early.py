"""Steps 0001 to 0005: the first schema, up to public by construction (issue 9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils


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


def _m0005_public_by_construction(db: sqlite_utils.Database) -> None:
    """Only what may be public stays in this file (issue 9).

    The takedown audit (who asked, why, which operator), taken-down posts'
    content and removed blogs' member details move to the private file
    (attached as `private`, see PRIVATE_SCHEMA); taken-down posts become
    tombstones with no content; the technical detail of fetch errors, which
    can name internal addresses, moves there too and the public rows keep a
    fixed sentence per error kind. posts_public lists its columns (no BLOB).
    """
    quoted = [(kind, text.replace("'", "''")) for kind, text in _PUBLIC_ERRORS_0005]
    cases = " ".join(f"WHEN '{kind}' THEN '{text}'" for kind, text in quoted)
    public_error = f"CASE error_kind {cases} ELSE 'the check failed' END"
    db.executescript(
        f"""
        ALTER TABLE posts ADD COLUMN removed_at TEXT;
        ALTER TABLE feeds ADD COLUMN removed_at TEXT;
        ALTER TABLE removals ADD COLUMN post_id INTEGER REFERENCES posts(id);

        INSERT OR IGNORE INTO private.removals
            (id, feed_id, post_id, target, reason, removed_by, removed_at, posts_removed)
        SELECT id, feed_id, NULL, url, reason, removed_by, removed_at, posts_hidden
        FROM main.removals;

        UPDATE main.posts SET removed_at = coalesce(
            (SELECT max(removed_at) FROM main.removals r WHERE r.feed_id = posts.feed_id),
            first_seen_at)
        WHERE hidden = 1;
        INSERT OR IGNORE INTO private.removed_posts
            (post_id, feed_id, entry_key, guid, url, title, author, summary_html,
             content_html, text, categories, topics, removed_at)
        SELECT id, feed_id, entry_key, guid, url, title, author, summary_html,
               content_html, text, categories, topics, removed_at
        FROM main.posts WHERE hidden = 1;
        INSERT OR IGNORE INTO private.removed_keys (feed_id, entry_key)
        SELECT feed_id, entry_key FROM main.posts WHERE hidden = 1;
        DELETE FROM post_topics WHERE post_id IN (SELECT id FROM posts WHERE hidden = 1);
        DELETE FROM post_lsh WHERE post_id IN (SELECT id FROM posts WHERE hidden = 1);
        UPDATE main.posts SET entry_key = 'removed:' || id, guid = NULL, url = NULL,
            title = '', author = NULL, summary_html = NULL, content_html = NULL, text = '',
            region = NULL, organisation = NULL,
            categories = '[]', topics = '[]', raw_hash = '', url_key = NULL,
            content_key = NULL, evidence_key = NULL, minhash = NULL, duplicate_reason = NULL
        WHERE hidden = 1;
        INSERT INTO posts_fts (posts_fts) VALUES ('optimize');

        UPDATE main.feeds SET removed_at = (
            SELECT max(removed_at) FROM main.removals r WHERE r.feed_id = feeds.id)
        WHERE status = 'removed' AND id IN (SELECT feed_id FROM main.removals);
        INSERT OR IGNORE INTO private.removed_feeds
            (feed_id, url, title, site_url, author, organisation, region, topics, removed_at)
        SELECT id, url, title, site_url, author, organisation, region, topics, removed_at
        FROM main.feeds WHERE removed_at IS NOT NULL;
        UPDATE main.feeds SET url = 'removed:' || id, title = NULL, site_url = NULL,
            author = NULL, organisation = NULL, region = NULL, topics = '[]',
            last_error = NULL, pending_redirect = NULL
        WHERE removed_at IS NOT NULL;

        ALTER TABLE removals DROP COLUMN url;
        ALTER TABLE removals DROP COLUMN reason;
        ALTER TABLE removals DROP COLUMN removed_by;

        INSERT OR IGNORE INTO private.feed_errors (feed_id, error, at)
        SELECT id, last_error, coalesce(last_checked_at, added_at)
        FROM main.feeds WHERE last_error IS NOT NULL;
        INSERT OR IGNORE INTO private.fetch_errors (fetch_id, feed_id, started_at, error)
        SELECT id, feed_id, started_at, error FROM main.fetches WHERE error IS NOT NULL;
        UPDATE main.feeds SET last_error = CASE WHEN last_error IS NULL THEN NULL
            ELSE {public_error} END;
        UPDATE main.fetches SET error = CASE WHEN error IS NULL THEN NULL
            ELSE {public_error} END;

        DROP VIEW posts_public;
        CREATE VIEW posts_public AS
        SELECT id, feed_id, entry_key, guid, url, title, author, published, updated,
               first_seen_at, summary_html, content_html, text, region, organisation,
               categories, topics, is_backfill, duplicate_reason
        FROM posts WHERE hidden = 0 AND duplicate_of IS NULL AND removed_at IS NULL;
        DROP VIEW river;
        CREATE VIEW river AS
        SELECT id, published, title, url, author, organisation, region, topics, summary_html,
               content_html, feed_id
        FROM posts WHERE hidden = 0 AND is_backfill = 0 AND duplicate_of IS NULL
          AND removed_at IS NULL
        ORDER BY published DESC;
        """
    )


# The public sentence per error kind as it was at 0005 (health.PUBLIC_ERRORS now).
_PUBLIC_ERRORS_0005 = (
    ("timeout", "the server took too long to answer"),
    ("network", "the connection to the server failed"),
    ("dns", "the server name could not be found"),
    ("tls", "the secure connection to the server failed"),
    ("http_status", "the server answered with an error"),
    ("too_large", "the feed is larger than Voice accepts"),
    ("blocked_address", "the feed, or a redirect from it, points to a private address"),
    ("bad_scheme", "the feed, or a redirect from it, is not an http or https address"),
    ("too_many_redirects", "the feed redirects too many times"),
    ("bad_encoding", "the feed's compression could not be decoded"),
    ("gone", "the server says the feed has been removed"),
    ("not_a_feed", "the address does not give a feed"),
    ("entities", "the document declares entities, which feeds do not need"),
    ("worker_limit", "parsing the feed needed more memory or time than allowed"),
    ("worker_timeout", "parsing the feed took too long"),
    ("worker_crash", "parsing the feed stopped unexpectedly"),
    ("malformed", "the feed is not well-formed"),
    ("internal", "Voice had a problem of its own"),
)
