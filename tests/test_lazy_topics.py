"""`voice fetch` builds the vocabulary only when a feed sends a body to tag (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.registry.feeds import ConfigErrors
from aggregator.registry.topics import lazy_topics, load_topics
from aggregator.update import update_feeds
from tests.support.feedserver import FeedServer

from .conftest import ROOT, registry_for, rows

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data" / "topics"
POSTS = "SELECT id, title, topics FROM posts ORDER BY id"
BAD = sorted(p.name for p in DATA.glob("*.yaml") if p.name != "valid.yaml")
TAGS = "SELECT post_id, topic, score, rules_version FROM post_topics ORDER BY post_id, topic"


def test_lazy_topics_build_what_load_topics_builds() -> None:
    lazy = lazy_topics(ROOT / "topics.yaml")
    eager = load_topics(ROOT / "topics.yaml")
    assert lazy.rows == tuple((t.slug, t.label, t.description) for t in eager.topics)
    built = lazy.get()
    assert built == eager and built.version == eager.version
    assert lazy.get() is built


@pytest.mark.parametrize("name", BAD)
def test_a_bad_file_fails_at_once_as_load_topics_does(name: str) -> None:
    with pytest.raises(ConfigErrors) as eager:
        load_topics(DATA / name)
    with pytest.raises(ConfigErrors) as lazy:
        lazy_topics(DATA / name)
    assert lazy.value.problems == eager.value.problems


def test_a_not_modified_cycle_builds_no_vocabulary_and_tags_as_before(
    server: FeedServer, tmp_path: Path
) -> None:
    registry = registry_for(server.url("philrumens.atom"))
    stored = {}
    for kind in ("eager", "lazy"):
        db = tmp_path / f"{kind}.db"
        for _ in range(2):  # the first cycle stores and tags, the second is a 304
            lazy = lazy_topics(ROOT / "topics.yaml")
            vocabulary = lazy if kind == "lazy" else load_topics(ROOT / "topics.yaml")
            result = update_feeds(
                registry, db, due_only=False, clock=lambda: NOW, vocabulary=vocabulary
            )
        assert result.feeds[0].outcome == "not_modified"
        if kind == "lazy":
            assert lazy._built is None  # the 304 cycle never asked for it
        stored[kind] = rows(db, POSTS), rows(db, TAGS), rows(db, "SELECT * FROM topics")
    assert stored["lazy"] == stored["eager"]
    assert stored["lazy"][1] and stored["lazy"][2]
