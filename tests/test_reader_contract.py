"""What the reader pages read from the database: blog slugs, topic labels (migration 0007)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.analysis.identity import blog_slug
from aggregator.models import FeedSource
from aggregator.parsing.pool import ParsePool
from aggregator.registry.topics import load_topics
from aggregator.storage import connect
from aggregator.storage.feeds import sync_feeds
from aggregator.storage.takedown import remove_blog
from aggregator.update import update_feeds
from tests.support.feedserver import FeedServer

from .conftest import ROOT, registry_for, rows

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("title", "site_url", "feed_url", "slug"),
    [
        ("Phil Rumens", None, "https://x.example/feed", "phil-rumens"),
        ("Café  Digital: notes!", None, "https://x.example/feed", "cafe-digital-notes"),
        (None, "https://www.Example.gov.uk/blog/", "https://x.example/feed", "example-gov-uk"),
        (None, None, "https://blog.example/feeds/posts.xml", "blog-example-feeds-posts-xml"),
        ("数字服务", None, "https://shuzi.example/rss", "shuzi-example-rss"),
        ("", None, "http://[::]/", "blog"),
        ("a" * 80, None, "https://x.example/", "a" * 60),
    ],
)
def test_blog_slug(title: str | None, site_url: str | None, feed_url: str, slug: str) -> None:
    assert blog_slug(title, site_url, feed_url) == slug


def test_each_blog_gets_a_unique_slug_that_never_changes(tmp_path: Path) -> None:
    conn = connect(tmp_path / "voice.db")
    first = [
        FeedSource(url="https://a.example/feed", region="London", title="Weeknotes"),
        FeedSource(url="https://b.example/feed", region="London", title="Weeknotes"),
    ]
    sync_feeds(conn, first, "2026-11-23T12:00:00Z")
    renamed = [replace(first[0], title="Something else"), first[1]]
    sync_feeds(conn, renamed, "2026-11-24T12:00:00Z")
    slugs = [r[0] for r in conn.execute("SELECT slug FROM feeds ORDER BY id")]
    assert slugs == ["weeknotes", "weeknotes-2"]
    remove_blog(conn, 1, target="x", reason="asked", removed_by="op", now="2026-11-25T00:00:00Z")
    slugs = [r[0] for r in conn.execute("SELECT slug FROM feeds ORDER BY id")]
    conn.close()
    assert slugs == [None, "weeknotes-2"]  # a taken-down blog's slug would still name it


def test_topic_labels_and_descriptions_are_copied_for_the_pages(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    vocabulary = load_topics(ROOT / "topics.yaml")
    run = dict(due_only=False, clock=lambda: NOW, pool=pool, vocabulary=vocabulary)
    update_feeds(registry_for(server.url("philrumens.atom")), db_path, **run)
    stored = rows(db_path, "SELECT slug, label, description FROM topics ORDER BY position")
    assert stored == [(t.slug, t.label, t.description) for t in vocabulary.topics]
    smaller = replace(vocabulary, topics=vocabulary.topics[:3])
    update_feeds(
        registry_for(server.url("philrumens.atom")), db_path, **{**run, "vocabulary": smaller}
    )
    assert [r[0] for r in rows(db_path, "SELECT slug FROM topics ORDER BY position")] == [
        t.slug for t in vocabulary.topics[:3]
    ]


def test_the_public_lists_read_partial_indexes(tmp_path: Path) -> None:
    """The river and region pages find their next 25 posts without sorting the archive.

    The pages name the index (INDEXED BY): SQLite then fails loudly if it is
    gone, instead of quietly sorting 100,000 posts.
    """
    connect(tmp_path / "voice.db").close()
    conn = sqlite3.connect(tmp_path / "voice.db")
    public = "hidden = 0 AND duplicate_of IS NULL AND removed_at IS NULL"
    plans = {
        "river": "SELECT id FROM posts INDEXED BY posts_river_order"
        f" WHERE {public} AND is_backfill = 0 AND id < 500 ORDER BY id DESC LIMIT 26",
        "region": "SELECT id FROM posts INDEXED BY posts_public_region"
        f" WHERE {public} AND region = 'London' AND id < 500 ORDER BY id DESC LIMIT 26",
        "blog": "SELECT id FROM posts WHERE feed_id = 3 ORDER BY id DESC LIMIT 26",
    }
    found = {
        name: " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
        for name, sql in plans.items()
    }
    conn.close()
    assert "posts_river_order" in found["river"] and "TEMP B-TREE" not in found["river"]
    assert "posts_public_region" in found["region"] and "TEMP B-TREE" not in found["region"]
    assert "posts_feed_order" in found["blog"] and "TEMP B-TREE" not in found["blog"]
