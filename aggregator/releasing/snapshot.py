"""Copy the public, research-included data out of the live database in one read.

The release file is built in a staging database that ATTACHes the live one
read-only and fills every table inside one transaction: one consistent
moment of the archive, while the fetcher keeps writing (WAL readers never
block the writer). `VACUUM INTO` then writes the compact release file.
Nothing private can reach a release: the private file is never attached,
and only the columns in `tables` are copied.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from aggregator.releasing.tables import FEEDS, POST_TOPICS, POSTS, TABLES, TOPICS, Table

SQL_TYPES = {"integer": "INTEGER", "number": "REAL"}  # the rest are TEXT
SUCCESS = "('ok', 'not_modified', 'unchanged')"

# Blogs in releases: not taken down, and the member has not opted out (feeds.research).
_INCLUDED_FEEDS = "live.feeds.removed_at IS NULL AND live.feeds.research = 1"
# Public posts of those blogs; a copy only when its original is in the release too.
_PUBLIC = "p.removed_at IS NULL AND p.hidden = 0 AND p.feed_id IN (SELECT id FROM main.feeds)"
_SELECT = {
    FEEDS.name: f"""
        SELECT f.id, f.slug, f.title, f.url, f.site_url, f.author, f.organisation, f.region,
               f.topics, f.added_at,
               (SELECT min(started_at) FROM live.fetches
                 WHERE feed_id = f.id AND outcome IN {SUCCESS}),
               (SELECT max(started_at) FROM live.fetches
                 WHERE feed_id = f.id AND outcome IN {SUCCESS})
        FROM live.feeds AS f WHERE {_INCLUDED_FEEDS.replace("live.feeds", "f")}""",
    POSTS.name: f"""
        SELECT p.id, p.public_key, p.feed_id, p.guid, p.url,
               p.title, p.author, p.published, p.updated, p.first_seen_at, p.summary_html,
               p.content_html, p.text, p.region, p.organisation, p.categories, p.topics,
               p.is_backfill, p.duplicate_of, p.duplicate_reason
        FROM live.posts AS p
        WHERE {_PUBLIC} AND (p.duplicate_of IS NULL OR p.duplicate_of IN (
            SELECT o.id FROM live.posts AS o
            WHERE o.id = p.duplicate_of AND {_PUBLIC.replace("p.", "o.")}))""",
    POST_TOPICS.name: """
        SELECT t.post_id, t.topic, t.source, t.score, t.rules_version, t.evidence
        FROM live.post_topics AS t WHERE t.post_id IN (SELECT id FROM main.posts)""",
    TOPICS.name: "SELECT slug, label, description, position FROM live.topics",
}


def create_sql(table: Table) -> str:
    columns = ", ".join(
        f"{c.name} {SQL_TYPES.get(c.type, 'TEXT')}{' NOT NULL' if c.required else ''}"
        for c in table.columns
    )
    return f"CREATE TABLE {table.name} ({columns}, PRIMARY KEY ({', '.join(table.key)}))"


def sqlite_uri(path: Path, mode: str) -> str:
    return f"file:{quote(str(path.resolve()))}?mode={mode}"


def build_release_db(live: Path, staging: Path, out: Path) -> tuple[dict[str, int], frozenset[int]]:
    """Fill `staging` from `live` in one read transaction, then VACUUM INTO `out`.

    Returns each table's row count and the ids of every post taken down at its
    author's request, read at the same moment. `live` is opened read-only;
    `staging` and `out` must not exist.
    """
    conn = sqlite3.connect(sqlite_uri(staging, "rwc"), isolation_level=None, uri=True)
    try:
        conn.execute("ATTACH DATABASE ? AS live", [sqlite_uri(live, "ro")])
        conn.execute("BEGIN")
        for table in TABLES:
            conn.execute(create_sql(table))
            order = ", ".join(str(table.names.index(k) + 1) for k in table.key)
            conn.execute(f"INSERT INTO {table.name} {_SELECT[table.name]} ORDER BY {order}")
        # Posts taken down at their author's request: CHANGES lists those a release had.
        taken_down = frozenset(
            row[0] for row in conn.execute("SELECT id FROM live.posts WHERE removed_at IS NOT NULL")
        )
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE live")
        counts = {
            t.name: conn.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0] for t in TABLES
        }
        conn.execute("VACUUM INTO ?", [str(out)])
        return counts, taken_down
    finally:
        conn.close()
