"""Steps 0006-0013: takedown notices, reader pages, members' choices, topics' evidence, speed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils


def _m0006_takedown_notices(db: sqlite_utils.Database) -> None:
    """Say publicly that a post was removed, and why in general terms only.

    A tombstone row in posts has an empty title and text, which reads as a
    broken post; researchers need to tell "removed at the author's request"
    from "never had a title". Who asked and why stay in the private file.
    """
    db.execute(
        """
        CREATE VIEW takedowns AS
        SELECT id AS post_id, feed_id, first_seen_at, removed_at,
               'Removed at the author''s request' AS notice
        FROM posts WHERE removed_at IS NOT NULL
        """
    )


def _m0007_reader_pages(db: sqlite_utils.Database) -> None:
    """What the reader pages need from the contract (issue 10).

    Topic labels and descriptions come from topics.yaml, which Datasette's
    plugins must not read: the fetcher copies them into `topics`. Each blog
    gets a stable `slug` for its page's address (filled by storage.keys).
    Lists are in first-seen order, which is id order (a post's id is given
    when Voice first stores it), so partial indexes over the public posts
    give each list's next 25 without sorting.
    """
    for statement in (
        """
        CREATE TABLE topics (
            slug TEXT PRIMARY KEY,
            label TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            position INTEGER NOT NULL DEFAULT 0
        )
        """,
        "ALTER TABLE feeds ADD COLUMN slug TEXT",
        "CREATE UNIQUE INDEX feeds_slug ON feeds(slug)",
        "CREATE INDEX posts_feed_order ON posts(feed_id, id)",
        "CREATE INDEX posts_river_order ON posts(id, feed_id)"
        " WHERE hidden = 0 AND duplicate_of IS NULL AND removed_at IS NULL AND is_backfill = 0",
        "CREATE INDEX posts_public_region ON posts(region, id)"
        " WHERE hidden = 0 AND duplicate_of IS NULL AND removed_at IS NULL",
    ):
        db.execute(statement)


def _m0008_member_choices(db: sqlite_utils.Database) -> None:
    """What a member chose for their blog, and whether they proved it is theirs (issue 11).

    `display` ('full' or 'excerpt'), `research` and `paused` come from
    feeds.yaml; `verified_at` is when the member's verification token was
    found in the blog's feed (the token itself stays in the private file).
    """
    for statement in (
        "ALTER TABLE feeds ADD COLUMN display TEXT NOT NULL DEFAULT 'full'",
        "ALTER TABLE feeds ADD COLUMN research INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE feeds ADD COLUMN paused INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE feeds ADD COLUMN verified_at TEXT",
    ):
        db.execute(statement)


def _m0009_editor_topics(db: sqlite_utils.Database) -> None:
    """Editors' topic corrections that tagging never undoes (issue 12).

    One row per post and topic an editor decided: `added` (the post also has
    a `post_topics` row with source `editor`) or `removed` (it never gets the
    topic again from rules, categories or the blog's defaults). Who and when
    stay in the private file (`topic_corrections`): editors' names are never
    served.
    """
    db.execute(
        """
        CREATE TABLE editor_topics (
            post_id INTEGER NOT NULL REFERENCES posts(id),
            topic TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('added', 'removed')),
            PRIMARY KEY (post_id, topic)
        )
        """
    )


def _m0010_topic_evidence(db: sqlite_utils.Database) -> None:
    """Why a post has a topic, in its words (issue 12): post_topics.evidence.

    A JSON array of the topic's words and phrases that counted most, as the
    post wrote them; NULL for a blog's default or an editor's choice, and for
    rows written before this step until `voice retag` (the rules version
    changed with this step, so the next retag fills them).
    """
    db.execute("ALTER TABLE post_topics ADD COLUMN evidence TEXT")


def _m0011_reading_speed(db: sqlite_utils.Database) -> None:
    """What the researchers' JSON needs to answer fast at 1,000,000 posts (issue 13).

    `river` loses its ORDER BY (newest first comes from metadata.yml's
    sort_desc, and SQL asks for its own order): a view that sorts cannot be
    flattened into the counts and facets Datasette wraps around it, so each
    of them read every column of every row, text and HTML included.
    `posts_public_state` holds every column the public views filter on, then
    date, region and organisation, so their counts, facets and newest page
    read only the index. Datasette's facets ask for `region IS NOT NULL`,
    which drew SQLite to the one-column region and organisation indexes and
    a lookup of every post's row (its flags stored after the text): those
    indexes now carry the same flags and each other's column, so either plan,
    and a filter by one with a facet by the other, reads only an index.
    """
    for statement in (
        "DROP VIEW river",
        """
        CREATE VIEW river AS
        SELECT id, published, title, url, author, organisation, region, topics, summary_html,
               content_html, feed_id
        FROM posts WHERE hidden = 0 AND is_backfill = 0 AND duplicate_of IS NULL
          AND removed_at IS NULL
        """,
        "CREATE INDEX posts_public_state ON posts"
        "(duplicate_of, hidden, removed_at, is_backfill, published, region, organisation)",
        "DROP INDEX posts_region",
        "CREATE INDEX posts_region"
        " ON posts(region, duplicate_of, hidden, removed_at, is_backfill, organisation)",
        "DROP INDEX posts_organisation",
        "CREATE INDEX posts_organisation"
        " ON posts(organisation, duplicate_of, hidden, removed_at, is_backfill, region)",
    ):
        db.execute(statement)


def _m0012_integer_lsh_keys(db: sqlite_utils.Database) -> None:
    """`post_lsh.band` holds integers, not text keys (issue 13).

    A text key ("b03:" + 16 hex digits, "t:" + 64) made each of a post's
    ~24 rows three times the size of an integer one, and was hashed in the
    single writer; integer keys are computed in the parse workers. Existing
    rows are converted, not recomputed, by the fixed rule `_integer_key`, so
    an old database finds the same candidates with no rebuild.
    """
    db.conn.create_function("voice_lsh_key", 1, _integer_key, deterministic=True)
    for statement in (
        """
        CREATE TABLE post_lsh_0012 (
            band INTEGER NOT NULL,
            post_id INTEGER NOT NULL REFERENCES posts(id),
            PRIMARY KEY (band, post_id)
        ) WITHOUT ROWID
        """,
        "INSERT OR IGNORE INTO post_lsh_0012 (band, post_id)"
        " SELECT voice_lsh_key(band), post_id FROM post_lsh ORDER BY 1, 2",
        "DROP TABLE post_lsh",
        "ALTER TABLE post_lsh_0012 RENAME TO post_lsh",
    ):
        db.execute(statement)


def _m0013_blog_counts(db: sqlite_utils.Database) -> None:
    """Each blog's public posts and newest date from one index range (issue 13).

    The blogs list and a blog's page count each blog's public posts and find
    its newest: through posts_feed_order (feed_id, id) that read every post's
    row for its flags, which are stored after the text (0.3 s for 10 of 500
    blogs at a million posts, and the list answered 500). With the flags and
    the date in the index, both read only the blog's range of it.
    """
    db.execute(
        "CREATE INDEX posts_feed_public"
        " ON posts(feed_id, duplicate_of, hidden, removed_at, published)"
    )


def _m0015_public_key(db: sqlite_utils.Database) -> None:
    """`posts.public_key`: a post's key across Voice instances (issue 14).

    Researchers join releases made by different instances on it. It is
    Voice's rule (a hash of the canonical URL), so `keys.fill_public_keys`
    fills it after migrating; `posts_public` gains it as its last column.
    """
    for statement in (
        "ALTER TABLE posts ADD COLUMN public_key TEXT",
        "CREATE INDEX posts_public_key ON posts(public_key)",
        "DROP VIEW posts_public",
        """
        CREATE VIEW posts_public AS
        SELECT id, feed_id, entry_key, guid, url, title, author, published, updated,
               first_seen_at, summary_html, content_html, text, region, organisation,
               categories, topics, is_backfill, duplicate_reason, public_key
        FROM posts WHERE hidden = 0 AND duplicate_of IS NULL AND removed_at IS NULL
        """,
    ):
        db.execute(statement)


def _integer_key(key: str) -> int:
    """A text key of post_lsh as the integer Voice computes since 0012 (sketch.lsh_keys).

    "bNN:" + the band's blake2b digest in hex -> NN above the digest less
    its six lowest bits (below 2**63); "t:" + sha256 hex of a title -> -1
    minus the digest's first 63 bits, so title keys are the negative ones.
    """
    if key.startswith("t:"):
        return -1 - (int(key[2:18], 16) >> 1)
    return int(key[1:3]) << 58 | int(key[4:20], 16) >> 6
