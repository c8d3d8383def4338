"""Editors' topic corrections (issue 12): set with `voice topics set`, kept by
every later tagging (`voice retag`, the fetch cycle, a blog's default topics),
exported with `voice topics corrections`, shown on the post page.

Each test fetches a real feed from a local server into a real SQLite file
with `voice fetch` and drives the CLI with click's CliRunner.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from aggregator.cli import cli
from aggregator.storage.connection import private_path
from tests.support.feedserver import FeedServer

from .conftest import DATA, ROOT, rows

sys.path.insert(0, str(ROOT / "plugins"))

EDITOR = "Sam Editor-Name"


def voice(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


class Site:
    """feeds.yaml, topics.yaml, voice.db and one blog's feed on a local server."""

    def __init__(self, root: Path, server: FeedServer, feeds: Path) -> None:
        self.root, self.server, self.feeds = root, server, feeds
        self.db = root / "voice.db"
        shutil.copy(ROOT / "topics.yaml", root / "topics.yaml")

    def args(self) -> list[str]:
        return ["--config", str(self.root / "feeds.yaml"), "--db", str(self.db)]

    def register(self, default_topics: str) -> None:
        (self.root / "feeds.yaml").write_text(
            "settings:\n  host_gap_seconds: 0\nfeeds:\n"
            f"  - url: {self.server.url('blog.rss')}\n    region: London\n"
            f"    title: Weeknotes\n    topics: [{default_topics}]\n",
            encoding="utf-8",
        )

    def fetch(self) -> None:
        result = voice("fetch", "--all", "--allow-private-hosts", *self.args())
        assert result.exit_code == 0, result.output

    def topics(self, post_id: int) -> dict[str, str]:
        """topic -> source in post_topics, after checking posts.topics says the same."""
        found = dict(
            rows(self.db, "SELECT topic, source FROM post_topics WHERE post_id = ?", post_id)
        )
        (summary,) = rows(self.db, "SELECT topics FROM posts WHERE id = ?", post_id)[0]
        assert json.loads(summary) == sorted(found)  # updated in the same transaction
        return found

    def set(self, *args: str) -> Result:
        return voice("topics", "set", *args, *self.args())


@pytest.fixture
def site(tmp_path: Path) -> Site:
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    shutil.copy(DATA / "update" / "blog.rss", feeds / "blog.rss")
    with FeedServer(feeds) as server:
        s = Site(tmp_path, server, feeds)
        s.register("open-data")
        s.fetch()
        yield s


def weeknotes_12(site: Site) -> int:
    return rows(site.db, "SELECT id FROM posts WHERE entry_key LIKE '%p=112'")[0][0]


def test_set_adds_and_removes_and_keeps_the_name_private(site: Site) -> None:
    post = weeknotes_12(site)
    assert site.topics(post)["open-data"] == "feed"
    result = site.set(str(post), "--add", "accessibility", "--remove", "open-data", "--by", EDITOR)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"post {post}: added accessibility; removed open-data;")
    topics = site.topics(post)
    assert topics["accessibility"] == "editor" and "open-data" not in topics
    versions = dict(
        rows(site.db, "SELECT source, rules_version FROM post_topics WHERE post_id = ?", post)
    )
    assert versions.pop("editor") == "editor"
    assert versions and "editor" not in versions.values()  # the rules' rows keep theirs
    assert rows(site.db, "SELECT topic, action FROM editor_topics ORDER BY topic") == [
        ("accessibility", "added"),
        ("open-data", "removed"),
    ]
    # Who and when are in the private file only: the public file never names an editor.
    public = "\n".join(sqlite3.connect(site.db).iterdump())
    assert EDITOR not in public
    audit = rows(
        private_path(site.db),
        "SELECT post_id, topic, action, corrected_by FROM topic_corrections ORDER BY id",
    )
    assert audit == [
        (post, "accessibility", "added", EDITOR),
        (post, "open-data", "removed", EDITOR),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--add", "blockchain"], "'blockchain' is not a topic", id="unknown-slug"),
        pytest.param(["--remove", "open-data,Open Data"], "'Open Data' is not", id="bad-slug"),
        pytest.param(["--add", "events", "--remove", "events"], "both added", id="both"),
        pytest.param([], "nothing to change", id="nothing"),
    ],
)
def test_bad_topics_are_one_line_errors(site: Site, args: list[str], message: str) -> None:
    post = weeknotes_12(site)
    before = site.topics(post)
    result = site.set(str(post), *args, "--by", EDITOR)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert site.topics(post) == before
    assert rows(site.db, "SELECT count(*) FROM editor_topics") == [(0,)]


def test_unknown_post_is_a_one_line_error(site: Site) -> None:
    result = site.set("9999", "--add", "events", "--by", EDITOR)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: post 9999: no such post"


def test_a_copy_is_refused_naming_its_canonical_post(site: Site) -> None:
    canonical, copy = (r[0] for r in rows(site.db, "SELECT id FROM posts ORDER BY id")[:2])
    with sqlite3.connect(site.db) as conn:  # as `voice dedupe` would link a copy
        conn.execute(
            "UPDATE posts SET duplicate_of = ?, duplicate_reason = 'same-content 1.00'"
            " WHERE id = ?",
            [canonical, copy],
        )
    result = site.set(str(copy), "--add", "events", "--by", EDITOR)
    assert result.exit_code == 1
    assert f"post {copy} is a copy of post {canonical}" in result.output
    assert f"correct post {canonical} instead" in result.output
    assert "events" not in site.topics(copy)


def test_corrections_stick_through_fetch_retag_and_default_topics(site: Site) -> None:
    post = weeknotes_12(site)
    result = site.set(str(post), "--add", "accessibility", "--remove", "open-data", "--by", EDITOR)
    assert result.exit_code == 0, result.output
    expected = site.topics(post)

    # The blog edits the post: the fetch cycle stores the edit and retags it.
    shutil.copy(DATA / "update" / "blog-next-week.rss", site.feeds / "blog.rss")
    site.fetch()
    (title,) = rows(site.db, "SELECT title FROM posts WHERE id = ?", post)[0]
    assert title == "Weeknotes 12: a content design sprint with residents"
    assert site.topics(post) == expected

    # The vocabulary is re-applied to every post.
    result = voice("retag", *site.args())
    assert result.exit_code == 0, result.output
    assert site.topics(post) == expected

    # The blog's default topics change in feeds.yaml: open-data stays removed here only.
    site.register("open-data, democracy")
    site.fetch()
    topics = site.topics(post)
    assert topics["accessibility"] == "editor" and "open-data" not in topics
    assert topics["democracy"] == "feed"
    others = rows(site.db, "SELECT id FROM posts WHERE id != ?", post)
    assert others and all(site.topics(i)["open-data"] == "feed" for (i,) in others)

    # Changing one's mind: a removed topic can be added back, an added one removed.
    result = site.set(str(post), "--add", "open-data", "--remove", "accessibility")
    assert result.exit_code == 0, result.output
    topics = site.topics(post)
    assert topics["open-data"] == "editor" and "accessibility" not in topics
    assert voice("retag", *site.args()).exit_code == 0
    assert site.topics(post) == topics


def test_corrections_export_as_json_lines(site: Site, tmp_path: Path) -> None:
    post = weeknotes_12(site)
    site.set(str(post), "--add", "accessibility", "--by", EDITOR)
    site.set(str(post), "--remove", "open-data", "--by", "Another Editor")
    result = voice("topics", "corrections", *site.args())
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and result.stderr.strip() == "1 corrected posts"
    record = json.loads(lines[0])
    assert {k: record[k] for k in ("post_id", "feed_url", "guid", "title", "url")} == {
        "post_id": post,
        "feed_url": site.server.url("blog.rss"),
        "guid": "https://team.example.gov.uk/?p=112",
        "title": "Weeknotes 12: content design sprint",
        "url": rows(site.db, "SELECT url FROM posts WHERE id = ?", post)[0][0],
    }
    assert record["added"] == ["accessibility"] and record["removed"] == ["open-data"]
    assert record["topics"] == json.loads(
        rows(site.db, "SELECT topics FROM posts WHERE id = ?", post)[0][0]
    )
    assert record["by"] == [EDITOR, "Another Editor"]
    assert record["at"] == record["history"][-1]["at"]
    assert [(h["topic"], h["action"], h["by"]) for h in record["history"]] == [
        ("accessibility", "added", EDITOR),
        ("open-data", "removed", "Another Editor"),
    ]
    assert record["duplicate_of"] is None


def test_the_post_page_says_an_editor_set_the_topic(site: Site) -> None:
    from datasette.app import Datasette
    from reader import lookup

    from aggregator.registry.site import Site as SiteFolder
    from aggregator.registry.site import metadata_for

    post = weeknotes_12(site)
    site.set(str(post), "--add", "accessibility", "--by", EDITOR)
    lookup.clear_cache()
    ds = Datasette(
        [str(site.db)],
        metadata=metadata_for(SiteFolder(ROOT), "voice"),
        plugins_dir=str(ROOT / "plugins"),
        template_dir=str(ROOT / "templates"),
    )

    async def page() -> tuple[int, str]:
        response = await ds.client.get(f"/posts/{post}")
        return response.status_code, response.text

    status, body = asyncio.run(page())
    assert status == 200
    assert "Accessibility</a>: set by an editor" in body
    assert "from the blog’s usual topics" in body or "from the blog&#39;s usual topics" in body
    assert EDITOR not in body


def test_a_takedown_leaves_no_public_trace_of_the_correction(site: Site) -> None:
    post = weeknotes_12(site)
    site.set(str(post), "--add", "accessibility", "--by", EDITOR)
    result = voice("remove", str(post), "--reason", "member asked", *site.args())
    assert result.exit_code == 0, result.output
    assert rows(site.db, "SELECT count(*) FROM editor_topics") == [(0,)]
    assert rows(site.db, "SELECT count(*) FROM post_topics WHERE post_id = ?", post) == [(0,)]
    result = voice("topics", "corrections", *site.args())
    assert result.exit_code == 0 and result.stdout == ""
    result = site.set(str(post), "--add", "events")
    assert result.exit_code == 1 and "taken down" in result.output


def test_an_archive_from_before_0009_gets_the_table_on_opening(tmp_path: Path) -> None:
    from aggregator import storage

    db = tmp_path / "voice.db"
    storage.connect(db).close()
    with sqlite3.connect(db) as conn:  # as a database written by the previous version
        conn.execute("DROP TABLE editor_topics")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0009_editor_topics'")
    storage.connect(db).close()
    assert rows(db, "SELECT count(*) FROM editor_topics") == [(0,)]
