"""The private file's tables: what the public must not see, beside the public database.

Created table by table when absent (no migrations: every statement is
idempotent), by `connection.attach_private`. docs/schema.md lists them.
"""

# What Datasette never serves: a second file beside the public one, attached to
# every writer connection as `private` and created, table by table, if absent.
PRIVATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS private.removals (
    id INTEGER PRIMARY KEY,
    feed_id INTEGER,
    post_id INTEGER,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    removed_by TEXT NOT NULL,
    removed_at TEXT NOT NULL,
    posts_removed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS private.removed_posts (
    post_id INTEGER PRIMARY KEY,
    feed_id INTEGER NOT NULL,
    entry_key TEXT,
    guid TEXT,
    url TEXT,
    title TEXT,
    author TEXT,
    summary_html TEXT,
    content_html TEXT,
    text TEXT,
    categories TEXT,
    topics TEXT,
    removed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS private.removed_keys (
    feed_id INTEGER NOT NULL,
    entry_key TEXT NOT NULL,
    PRIMARY KEY (feed_id, entry_key)
);
CREATE TABLE IF NOT EXISTS private.removed_feeds (
    feed_id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    title TEXT,
    site_url TEXT,
    author TEXT,
    organisation TEXT,
    region TEXT,
    topics TEXT,
    removed_at TEXT
);
CREATE TABLE IF NOT EXISTS private.entry_blocks (
    feed_id INTEGER PRIMARY KEY,
    blocks TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS private.feed_errors (
    feed_id INTEGER PRIMARY KEY,
    error TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS private.upkeep (
    task TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    done_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS private.fetch_errors (
    fetch_id INTEGER PRIMARY KEY,
    feed_id INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS private.topic_corrections (
    id INTEGER PRIMARY KEY,
    post_id INTEGER NOT NULL,
    topic TEXT NOT NULL,
    action TEXT NOT NULL,
    corrected_by TEXT NOT NULL,
    corrected_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS private.topic_corrections_post
    ON topic_corrections(post_id, id);
CREATE TABLE IF NOT EXISTS private.verifications (
    feed_url TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    verified_at TEXT
);
"""
