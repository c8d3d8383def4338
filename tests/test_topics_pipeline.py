"""Topics assigned as posts are stored, and kept in step with feeds.yaml."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from aggregator.analysis.vocabulary import rules_version
from aggregator.parsing.pool import ParsePool
from aggregator.registry.topics import load_topics
from aggregator.update import update_feeds
from tests.support.feedserver import FeedServer

from .conftest import ROOT, registry_for, rows

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
VOCABULARY = load_topics(ROOT / "topics.yaml")


def test_posts_are_tagged_as_they_are_stored(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    update_feeds(
        registry_for(server.url("philrumens.atom")),
        db_path,
        due_only=False,
        clock=lambda: NOW,
        pool=pool,
        vocabulary=VOCABULARY,
    )
    tagged = dict(
        rows(db_path, "SELECT title, topics FROM posts WHERE title LIKE 'Open standards%'")
    )
    assert "open-standards" in json.loads(next(iter(tagged.values())))
    versions = {r[0] for r in rows(db_path, "SELECT DISTINCT rules_version FROM post_topics")}
    assert versions == {rules_version(VOCABULARY)}
    # posts.topics summarises post_topics exactly
    for post_id, summary in rows(db_path, "SELECT id, topics FROM posts"):
        slugs = [
            r[0]
            for r in rows(
                db_path, f"SELECT topic FROM post_topics WHERE post_id = {post_id} ORDER BY topic"
            )
        ]
        assert json.loads(summary) == slugs


def test_feed_default_topics_follow_feeds_yaml(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    base = registry_for(server.url("blog.rss"))
    with_default = replace(base, feeds=(replace(base.feeds[0], topics=("democracy",)),))
    update_feeds(
        with_default, db_path, due_only=False, clock=lambda: NOW, pool=pool, vocabulary=VOCABULARY
    )
    assert rows(
        db_path, "SELECT DISTINCT topic, source FROM post_topics WHERE topic = 'democracy'"
    ) == [("democracy", "feed")]
    update_feeds(base, db_path, due_only=False, clock=lambda: NOW, pool=pool, vocabulary=VOCABULARY)
    assert rows(db_path, "SELECT count(*) FROM post_topics WHERE source = 'feed'") == [(0,)]
    assert all("democracy" not in t for (t,) in rows(db_path, "SELECT topics FROM posts"))


def test_retag_applies_a_changed_vocabulary(
    server: FeedServer, db_path: Path, pool: ParsePool, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from aggregator.cli import cli

    update_feeds(
        registry_for(server.url("philrumens.atom")),
        db_path,
        due_only=False,
        clock=lambda: NOW,
        pool=pool,
        vocabulary=VOCABULARY,
    )
    narrow = tmp_path / "topics.yaml"
    narrow.write_text(
        "threshold: 1\ntopics:\n"
        "  - slug: cooperatives\n    label: Co-operatives\n"
        "    description: Organising as a co-operative.\n"
        "    words: [cooperative]\n    phrases: [community co-operative]\n    categories: []\n"
    )
    config = tmp_path / "feeds.yaml"
    config.write_text(f"feeds:\n  - url: {server.url('philrumens.atom')}\n    region: South East\n")
    result = CliRunner().invoke(
        cli, ["retag", "--topics", str(narrow), "--config", str(config), "--db", str(db_path)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("7 posts retagged with rules version ")
    topics = {t for (t,) in rows(db_path, "SELECT DISTINCT topic FROM post_topics")}
    assert topics == {"cooperatives"}
    (rebooted,) = rows(
        db_path, "SELECT topics FROM posts WHERE title = 'LocalGov Digital rebooted'"
    )[0]
    assert json.loads(rebooted) == ["cooperatives"]


def test_topics_summary_follows_a_retagged_entry_whose_raw_entry_is_unchanged(
    db_path: Path,
) -> None:
    # Two writers (a `voice fetch --feed` during `voice run`) can both hand over
    # the same unchanged entry; the second's topics must reach posts.topics too.
    from aggregator import storage as store
    from aggregator.models import EntryData, FeedSource, FeedUpdateRecord
    from aggregator.storage import feeds as store_feeds

    conn = store.connect(db_path)
    store_feeds.sync_feeds(conn, [FeedSource("https://a.example/feed/", "London")], "t")
    entry = EntryData(
        entry_key="post-1", raw_hash="same", guid="post-1", url="https://a.example/1",
        title="Open data", author=None, published="2026-01-01T00:00:00Z", updated=None,
        categories=(), summary_html=None, content_html="<p>Open data</p>", text="Open data",
        topics=(("open-data", "rules", 1.0),),
    )  # fmt: skip
    writes = (("open-data", frozenset()), ("democracy", frozenset({"post-1"})))
    for topic, known in writes:
        store.save_update(
            conn,
            FeedUpdateRecord(
                feed_id=1, started_at="2026-01-02T00:00:00Z", duration_ms=1, outcome="ok",
                status="ok", next_check_at=None, error_count=0,
                entries=(replace(entry, topics=((topic, "rules", 1.0),)),), known_keys=known,
                rules_version="v",
            ),
        )  # fmt: skip
    conn.close()
    assert rows(db_path, "SELECT topics FROM posts") == [('["democracy"]',)]
    assert rows(db_path, "SELECT topic FROM post_topics") == [("democracy",)]
