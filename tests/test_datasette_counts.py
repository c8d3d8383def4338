"""Counts read from indexes (issue 13) give the numbers a plain count gives, on a real server.

The blogs list counts each blog's public posts through posts_feed_public
(migration 0013); the topic facet of a whole table or view counts every post's
topics less those of the posts the view leaves out (plugins/voice_topics.py).
Both are checked against counting the rows one by one, after copies, a
takedown and a back-catalogue post, on a real Datasette process.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from aggregator.parsing.pool import ParsePool
from tests.support.feedserver import FeedServer
from tests.support.live import live_datasette

from .test_datasette import build

MANY = 3000  # a blog with many posts: each counted from the index, not its rows

PUBLIC = "hidden = 0 AND duplicate_of IS NULL AND removed_at IS NULL"


def many_posts(conn: sqlite3.Connection, feed_id: int, n: int) -> None:
    """`n` more public posts for one blog, each with a topic, as the fetcher stores them."""
    conn.execute(
        """
        WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < :n)
        INSERT INTO posts (feed_id, entry_key, title, published, first_seen_at, text,
            raw_hash, region, organisation)
        SELECT :feed, 'many-' || i, 'Post ' || i, printf('2026-10-%02d', 1 + i % 28),
            '2026-11-23', 'words', 'hash-' || i, f.region, f.organisation
        FROM k, feeds f WHERE f.id = :feed
        """,
        {"n": n, "feed": feed_id},
    )
    conn.execute(
        """INSERT INTO post_topics (post_id, topic, source, score, rules_version)
        SELECT id, CASE id % 3 WHEN 0 THEN 'open-data' WHEN 1 THEN 'digital' ELSE 'housing' END,
            'rules', 1.0, 'test' FROM posts WHERE entry_key LIKE 'many-%'""",
    )


@pytest.fixture
def served(server: FeedServer, tmp_path: Path, pool: ParsePool) -> Iterator[tuple[str, Path]]:
    db = tmp_path / "voice.db"
    build(server, db, pool)
    with closing(sqlite3.connect(db)) as conn:
        feed_id = conn.execute("SELECT min(id) FROM feeds WHERE slug IS NOT NULL").fetchone()[0]
        many_posts(conn, feed_id, MANY)
        ids = [r[0] for r in conn.execute("SELECT id FROM posts WHERE entry_key LIKE 'many-%'")]
        conn.execute("UPDATE posts SET duplicate_of = ? WHERE id = ?", [ids[0], ids[1]])
        conn.execute(
            "UPDATE posts SET hidden = 1, removed_at = '2026-11-24' WHERE id = ?", [ids[2]]
        )
        conn.execute("UPDATE posts SET is_backfill = 1 WHERE id IN (?, ?)", ids[3:5])
        conn.commit()
    with live_datasette(db, log=tmp_path / "datasette.log") as base:
        yield base, db


def test_the_blogs_list_answers_with_each_blogs_public_posts(served: tuple[str, Path]) -> None:
    base, db = served
    with closing(sqlite3.connect(db)) as conn:
        expected = conn.execute(
            f"""SELECT f.slug, (SELECT count(*) FROM posts WHERE feed_id = f.id AND {PUBLIC})
            FROM feeds f WHERE f.removed_at IS NULL AND f.slug IS NOT NULL"""
        ).fetchall()
    assert max(n for _, n in expected) >= MANY - 2
    with httpx.Client(base_url=base) as http:
        page = http.get("/blogs")
        assert page.status_code == 200
        for slug, n in expected:
            shown = re.search(rf'href="/blogs/{slug}".*?(\d[\d,]*) posts?\b', page.text, flags=re.S)
            assert shown and int(shown.group(1).replace(",", "")) == n, slug
            blog = http.get(f"/blogs/{slug}")
            assert blog.status_code == 200


@pytest.mark.parametrize("table", ["posts", "river", "posts_public"])
def test_the_topic_facet_of_a_whole_table_is_the_plain_count(
    served: tuple[str, Path], table: str
) -> None:
    base, db = served
    rows = "posts WHERE hidden = 0 AND duplicate_of IS NULL" if table == "posts" else table
    with closing(sqlite3.connect(db)) as conn:
        expected = dict(
            conn.execute(
                f"""SELECT topic, count(*) FROM post_topics
                WHERE post_id IN (SELECT id FROM {rows}) GROUP BY topic"""
            ).fetchall()
        )
        every = dict(conn.execute("SELECT topic, count(*) FROM post_topics GROUP BY topic"))
    assert expected != every  # the left-out posts change the counts
    with httpx.Client(base_url=base) as http:
        data = http.get(f"/voice/{table}.json", headers={"Cache-Control": "no-cache"}).json()
    facet = data["facet_results"]["topics"]
    assert {v["value"]: v["count"] for v in facet["results"]} == expected
    assert not facet["truncated"] and "topics" not in data.get("facets_timed_out", [])


@pytest.mark.parametrize("table", ["posts", "river", "posts_public"])
@pytest.mark.parametrize("topic", ["open-data", "digital"])
def test_the_topic_facet_of_one_topic_is_the_plain_count(
    served: tuple[str, Path], table: str, topic: str
) -> None:
    """?_topic= once: the count and the topic facet are the topic's posts (and their
    topics) and its region and organisation facets count what the view shows,
    read from topic_facets (migration 0014)."""
    base, db = served
    rows = "posts WHERE hidden = 0 AND duplicate_of IS NULL" if table == "posts" else table
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(  # removed but not hidden: in posts, not in posts_public or river
            "UPDATE posts SET removed_at = '2026-11-30' WHERE id = (SELECT max(id) FROM posts"
            " WHERE hidden = 0 AND duplicate_of IS NULL AND is_backfill = 0)"
        )
        conn.execute(  # the left-out posts have every topic
            """INSERT OR IGNORE INTO post_topics (post_id, topic, source, score, rules_version)
            SELECT id, t.topic, 'rules', 1.0, 'test' FROM posts,
                (SELECT 'open-data' AS topic UNION ALL SELECT 'digital'
                 UNION ALL SELECT 'housing') t
            WHERE duplicate_of IS NOT NULL OR hidden != 0 OR is_backfill != 0
            OR removed_at IS NOT NULL"""
        )
        conn.commit()
        chosen = f"SELECT post_id FROM post_topics WHERE topic = '{topic}'"
        and_ = "AND" if table == "posts" else "WHERE"
        expected = dict(
            conn.execute(
                f"""SELECT topic, count(*) FROM post_topics
                WHERE post_id IN (SELECT id FROM {rows} {and_} id IN ({chosen}))
                GROUP BY topic"""
            ).fetchall()
        )
        columns = {
            column: dict(
                conn.execute(
                    f"""SELECT {column}, count(*) FROM {rows} {and_} id IN ({chosen})
                    AND {column} IS NOT NULL GROUP BY {column}"""
                ).fetchall()
            )
            for column in ("region", "organisation")
        }
        shown = conn.execute(f"SELECT count(*) FROM {rows} {and_} id IN ({chosen})").fetchone()
        every = dict(
            conn.execute(
                f"SELECT topic, count(*) FROM post_topics WHERE post_id IN ({chosen})"
                " GROUP BY topic"
            )
        )
    assert expected and expected != every  # the left-out posts change the counts
    with httpx.Client(base_url=base) as http:
        data = http.get(
            f"/voice/{table}.json?_topic={topic}", headers={"Cache-Control": "no-cache"}
        ).json()
    assert data["filtered_table_rows_count"] == shown[0] < every[topic]
    for column, counts in columns.items():
        assert counts
        got = data["facet_results"][column]
        assert got["type"] == "column"
        assert {v["value"]: v["count"] for v in got["results"]} == counts
    facet = data["facet_results"]["topics"]
    assert {v["value"]: v["count"] for v in facet["results"]} == expected
    assert not facet["truncated"] and "topics" not in data.get("facets_timed_out", [])
