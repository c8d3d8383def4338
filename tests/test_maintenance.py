"""`voice retag` and `voice dedupe --rebuild` over a whole archive (issue 13).

The labelled set goes through the real fetch cycle once (a feed server on
127.0.0.1, real SQLite); each test works on a copy. Walking the archive in
batches must give exactly what the cycle decided post by post, and the
progress bar appears only when stderr is a terminal or `--progress` asks.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aggregator import storage
from aggregator.analysis.tagging import topics_for
from aggregator.analysis.vocabulary import rules_version
from aggregator.cli import cli
from aggregator.registry.topics import load_topics
from aggregator.storage import admin
from aggregator.storage.connection import private_path
from tests.test_eval import load_eval

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ROOT / "topics.yaml"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The labelled set as the fetch cycle stores it (tags and clusters made as it goes)."""
    db = tmp_path_factory.mktemp("labelled") / "voice.db"
    load_eval().run_pipeline(db)
    for path in (db, private_path(db)):
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


@pytest.fixture
def db(labelled: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "voice.db"
    shutil.copyfile(labelled, copy)
    shutil.copyfile(private_path(labelled), private_path(copy))
    return copy


def decisions(db: Path) -> dict[str, list[Any]]:
    """Everything the two commands may write: topics, their rows, clusters and reasons."""
    conn = sqlite3.connect(db)
    try:
        return {
            "posts": conn.execute(
                "SELECT id, topics, duplicate_of, duplicate_reason, minhash, evidence_key"
                " FROM posts ORDER BY id"
            ).fetchall(),
            "post_topics": conn.execute(
                "SELECT * FROM post_topics ORDER BY post_id, topic"
            ).fetchall(),
            "post_lsh": conn.execute("SELECT * FROM post_lsh ORDER BY band, post_id").fetchall(),
        }
    finally:
        conn.close()


def voice(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_retag_and_rebuild_give_what_the_fetch_cycle_decided(db: Path, tmp_path: Path) -> None:
    before = decisions(db)
    posts = len(before["posts"])
    copies = sum(1 for row in before["posts"] if row[2] is not None)
    assert copies >= 15 and len(before["post_topics"]) >= posts  # a set worth comparing
    config = ["--config", str(tmp_path / "none.yaml"), "--db", str(db)]
    version = rules_version(load_topics(TOPICS))

    code, out, err = voice("retag", "--topics", str(TOPICS), *config)
    assert (code, out, err) == (0, f"{posts} posts retagged with rules version {version}\n", "")
    code, out, err = voice("dedupe", "--rebuild", *config)
    expected = f"{posts} posts checked, {copies} are copies of another post\n"
    assert (code, out, err) == (0, expected, "")
    assert decisions(db) == before


@pytest.mark.parametrize("batch", [1, 7, 500])
def test_batches_of_any_size_decide_the_same_and_report_every_post(db: Path, batch: int) -> None:
    before = decisions(db)
    vocabulary = load_topics(TOPICS)

    def tag(title: str, text: str, categories: list[str], feed_topics: list[str]) -> list:
        found = topics_for(title, text, categories, feed_topics, vocabulary)
        return [(a.topic, a.source, a.score, a.evidence) for a in found]

    seen: dict[str, list[tuple[int, int]]] = {"retag": [], "rebuild": []}
    conn = storage.connect(db)
    try:
        retagged = admin.retag_posts(
            conn,
            tag,
            rules_version(vocabulary),
            batch=batch,
            progress=lambda done, total: seen["retag"].append((done, total)),
        )
        admin.rebuild_duplicates(
            conn, batch=batch, progress=lambda done, total: seen["rebuild"].append((done, total))
        )
    finally:
        conn.close()
    posts = len(before["posts"])
    assert retagged == posts
    assert decisions(db) == before
    for calls in seen.values():
        assert len(calls) == -(-posts // batch)  # one call a batch
        assert [done for done, _ in calls] == sorted(done for done, _ in calls)
        assert calls[-1] == (posts, posts)


def test_progress_bar_shows_posts_done_of_all_and_the_rate_when_asked(
    db: Path, tmp_path: Path
) -> None:
    posts = len(decisions(db)["posts"])
    config = ["--config", str(tmp_path / "none.yaml"), "--db", str(db)]
    for command, label in ((["retag", "--topics", str(TOPICS)], "retagging"),
                           (["dedupe", "--rebuild"], "linking copies")):  # fmt: skip
        code, out, err = voice(*command, "--progress", *config)
        assert code == 0, err
        assert len(out.splitlines()) == 1  # stdout keeps its one documented line
        plain = _unstyled(err)
        assert label in plain
        assert f"{posts}/{posts} posts" in plain
        assert "posts/s" in plain
        code, out, err = voice(*command, "--no-progress", *config)
        assert code == 0 and len(out.splitlines()) == 1 and err == ""


def _unstyled(text: str) -> str:
    """A terminal's text without its colour and cursor codes."""
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
