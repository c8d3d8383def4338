"""topic_facets (migration 0014) always equals counting the posts from scratch.

Its triggers keep it while posts are stored, tagged, linked as copies, taken
down, moved to the back catalogue, re-regioned and deleted; random sequences
of those writes are checked against `rebuild_sql` after every step, rows and
all: a count that reaches 0 is deleted, since its value (an organisation's
name) may be a taken-down blog's (test_public_sweep finds it otherwise).
"""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from aggregator.storage import connection
from aggregator.storage.schema.counts import rebuild_sql

TOPICS = ("open-data", "housing", "digital", "procurement")
REGIONS = ("London", "Wales", "North West", None)
ORGANISATIONS = ("Leeds City Council", "GDS", None)
COUNTED = "SELECT topic, facet, shown, value, n FROM topic_facets ORDER BY 1, 2, 3, 4"


def kept_and_recounted(conn: sqlite3.Connection) -> tuple[list[tuple], list[tuple]]:
    kept = conn.execute(COUNTED).fetchall()
    conn.execute("SAVEPOINT recount")
    for statement in rebuild_sql():
        conn.execute(statement)
    recounted = conn.execute(COUNTED).fetchall()
    conn.execute("ROLLBACK TO recount")
    conn.execute("RELEASE recount")
    return kept, recounted


def new_post(conn: sqlite3.Connection, rng: random.Random, n: int) -> None:
    conn.execute(
        "INSERT INTO posts (feed_id, entry_key, title, published, first_seen_at, text,"
        " raw_hash, region, organisation, is_backfill) VALUES (1, ?, 't', '2026-01-01',"
        " '2026-01-01', 'words', 'h', ?, ?, ?)",
        [f"e{n}", rng.choice(REGIONS), rng.choice(ORGANISATIONS), rng.random() < 0.2],
    )


def one_write(conn: sqlite3.Connection, rng: random.Random, n: int) -> str:
    """One random write of the kinds Voice makes; returns what it did."""
    ids = [r[0] for r in conn.execute("SELECT id FROM posts")]
    post = rng.choice(ids)
    kind = rng.choice(
        ["post", "tag", "tag", "untag", "retag", "copy", "uncopy", "hide", "remove",
         "backfill", "region", "organisation", "feed_region", "delete"]
    )  # fmt: skip
    if kind == "post":
        new_post(conn, rng, n)
    elif kind == "tag":
        conn.execute(
            "INSERT OR IGNORE INTO post_topics (post_id, topic, source, score, rules_version)"
            " VALUES (?, ?, 'rules', 1.0, 't')",
            [post, rng.choice(TOPICS)],
        )
    elif kind == "untag":
        conn.execute("DELETE FROM post_topics WHERE post_id = ? AND topic = ?",
                     [post, rng.choice(TOPICS)])  # fmt: skip
    elif kind == "retag":  # as voice retag: every row of the post out, new ones in
        conn.execute("DELETE FROM post_topics WHERE post_id = ?", [post])
        conn.executemany(
            "INSERT INTO post_topics (post_id, topic, source, score, rules_version)"
            " VALUES (?, ?, 'rules', 0.9, 't')",
            [(post, t) for t in rng.sample(TOPICS, rng.randint(0, 3))],
        )
    elif kind == "copy":
        conn.execute("UPDATE posts SET duplicate_of = ? WHERE id = ?", [rng.choice(ids), post])
    elif kind == "uncopy":
        conn.execute("UPDATE posts SET duplicate_of = NULL WHERE id = ?", [post])
    elif kind == "hide":
        conn.execute("UPDATE posts SET hidden = ? WHERE id = ?", [rng.choice((0, 1, -1)), post])
    elif kind == "remove":  # as a takedown: tombstone, no region, no topics
        conn.execute(
            "UPDATE posts SET removed_at = ?, region = NULL, organisation = NULL WHERE id = ?",
            [rng.choice(("2026-02-02", None)), post],
        )
    elif kind == "backfill":
        conn.execute("UPDATE posts SET is_backfill = 1 - is_backfill WHERE id = ?", [post])
    elif kind == "region":
        conn.execute("UPDATE posts SET region = ? WHERE id = ?", [rng.choice(REGIONS), post])
    elif kind == "organisation":
        conn.execute("UPDATE posts SET organisation = ? WHERE id = ?",
                     [rng.choice(ORGANISATIONS), post])  # fmt: skip
    elif kind == "feed_region":  # a blog moved region: all its posts at once
        conn.execute("UPDATE posts SET region = ?", [rng.choice(REGIONS)])
    else:
        conn.execute("DELETE FROM post_topics WHERE post_id = ?", [post])
        conn.execute("UPDATE posts SET duplicate_of = NULL WHERE duplicate_of = ?", [post])
        conn.execute("DELETE FROM posts WHERE id = ?", [post])
    return f"{kind} {post}"


@pytest.mark.parametrize("seed", range(8))
def test_kept_counts_equal_a_recount_after_every_write(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    with closing(connection.connect(tmp_path / "voice.db")) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")  # deleting a post others point at
        conn.execute("INSERT INTO feeds (url, added_at) VALUES ('https://a.example/f', 'now')")
        for n in range(12):
            new_post(conn, rng, n)
        done, most = [], 0
        for n in range(12, 212):
            done.append(one_write(conn, rng, n))
            kept, recounted = kept_and_recounted(conn)
            assert kept == recounted, f"after {done[-8:]}"
            most = max(most, len(kept))
        assert not conn.execute("SELECT 1 FROM topic_facets WHERE n <= 0").fetchall()
        assert most > 20  # the writes made real counts, not an empty table throughout


def test_a_topic_row_is_never_moved(tmp_path: Path) -> None:
    """Moving a row would need both places' pairs at once; writers delete and insert."""
    with closing(connection.connect(tmp_path / "voice.db")) as conn:
        conn.execute("INSERT INTO feeds (url, added_at) VALUES ('https://a.example/f', 'now')")
        new_post(conn, random.Random(1), 0)
        conn.execute("INSERT INTO post_topics VALUES (1, 'housing', 'rules', 1.0, 't', NULL)")
        with pytest.raises(sqlite3.IntegrityError, match="never moved"):
            conn.execute("UPDATE post_topics SET topic = 'digital'")


def test_the_migration_counts_the_posts_already_there(tmp_path: Path) -> None:
    """A database from before 0014, with posts and topics, gets the same counts on
    upgrade as the triggers would have kept."""
    rng = random.Random(3)
    db = tmp_path / "voice.db"
    with closing(connection.connect(db)) as conn:
        conn.execute("INSERT INTO feeds (url, added_at) VALUES ('https://a.example/f', 'now')")
        for n in range(40):
            new_post(conn, rng, n)
        for n in range(40, 200):
            one_write(conn, rng, n)
        kept = conn.execute(COUNTED).fetchall()
        assert len(kept) > 20
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'topic_facets%'"
        ).fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE topic_facets")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0014_topic_facets'")
        conn.commit()
    with closing(connection.connect(db)) as conn:  # behind by one step: migrates
        assert conn.execute(COUNTED).fetchall() == kept
        assert (
            conn.execute(
                "SELECT count(*) FROM sqlite_master"
                " WHERE type = 'trigger' AND name LIKE 'topic_facets%'"
            ).fetchone()[0]
            == 6
        )
