"""`voice release`: a fixed, citable copy of the public archive (issue 14).

A real archive is built by the fetcher from three blogs served on 127.0.0.1:
one member opted out of research releases, one post is taken down with
`voice remove`. Releases are then made with the real command and read back
with sqlite3, pyarrow and frictionless.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from frictionless import Package, system

from aggregator.cli import cli
from aggregator.errors import ReleaseError
from aggregator.releasing import ReleaseRunner, make_release, release_due
from aggregator.releasing.export import arrow_schema
from aggregator.releasing.scheduled import RETRY_AFTER, latest_release
from aggregator.releasing.tables import TABLES
from tests.support.archive import SECRET_AUTHOR, Archive
from tests.support.feedserver import FeedServer

SECRET_REASON = "asked by Ms Xanthippe Odd"
OPERATOR = "operator-login"
TABLE_FILES = ("feeds", "posts", "post_topics", "topics")


@pytest.fixture
def archive(server: FeedServer, tmp_path: Path) -> Archive:
    made = Archive(server, tmp_path)
    made.fetch()
    return made


def release_text(folder: Path) -> str:
    """Every byte of a release as text: the gzip files unpacked, Parquet read as rows."""
    parts = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".gz":
            parts.append(gzip.decompress(path.read_bytes()).decode("utf-8"))
        elif path.suffix == ".parquet":
            parts.append(json.dumps(pq.read_table(path).to_pylist(), default=str))
        else:
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def table_ids(folder: Path, name: str) -> set[int]:
    (db,) = folder.glob("voice-*.db")
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute(f"SELECT id FROM {name}")}


def test_a_release_holds_public_data_of_included_blogs_only(archive: Archive) -> None:
    taken = archive.post_id("p=111")
    (title, text) = archive.rows("SELECT title, text FROM posts WHERE id = ?", taken)[0]
    archive.voice("remove", str(taken), "--reason", SECRET_REASON, "--by", OPERATOR,
                  "--config", str(archive.config))  # fmt: skip
    opted_out = archive.rows(
        "SELECT p.title FROM posts p JOIN feeds f ON f.id = p.feed_id WHERE f.url = ?",
        archive.opted_out,
    )
    assert opted_out
    folder = archive.release()

    everything = release_text(folder)
    for secret in [SECRET_REASON, OPERATOR, title, text[:40], archive.opted_out, *opted_out[0]]:
        assert secret not in everything, secret
    public = archive.rows(
        "SELECT p.id FROM posts_public p JOIN feeds f ON f.id = p.feed_id WHERE f.research = 1"
    )
    assert table_ids(folder, "posts") == {r[0] for r in public}  # no copies in this archive
    assert SECRET_AUTHOR in everything  # a member's byline is public, and stays
    names = {p.name for p in folder.iterdir()}
    assert names == {"datapackage.json", "CHANGES", f"voice-{folder.name}.db"} | {
        f"{t}.{ext}" for t in TABLE_FILES for ext in ("parquet", "jsonl.gz")
    }
    (db,) = folder.glob("voice-*.db")
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == set(TABLE_FILES)


def test_the_manifest_validates_and_describes_every_file(archive: Archive) -> None:
    folder = archive.release()
    manifest = json.loads((folder / "datapackage.json").read_text())
    with system.use_context(trusted=True):
        report = Package(str(folder / "datapackage.json")).validate()
    assert report.valid, report.flatten(["title", "type", "note"])
    described = {r["path"] for r in manifest["resources"]}
    assert described == {p.name for p in folder.iterdir()} - {"datapackage.json"}
    for resource in manifest["resources"]:
        data = (folder / resource["path"]).read_bytes()
        assert resource["bytes"] == len(data)
        assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    by_name = {r["name"]: r for r in manifest["resources"]}
    for table in TABLES:
        parquet = by_name[f"{table.name}-parquet"]
        read = pq.ParquetFile(folder / parquet["path"])
        assert parquet["voice"] == {"table": table.name, "rows": by_name[table.name]["rows"]}
        assert read.metadata.num_rows == by_name[table.name]["rows"]
        assert read.schema_arrow == arrow_schema(table)
        assert [f["name"] for f in by_name[table.name]["schema"]["fields"]] == list(table.names)
    with sqlite3.connect(folder / by_name["database"]["path"]) as conn:
        assert by_name["database"]["voice"]["tables"] == {
            t.name: conn.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0] for t in TABLES
        }
    assert manifest["id"] == folder.name
    assert f"research release {folder.name} [data set]" in manifest["citation"]
    voice = manifest["voice"]
    assert voice["dedupe_rules"].startswith("dedupe-")
    assert voice["taxonomy"].startswith("topics-")
    assert sum(voice["tagging_rules"].values()) == len(
        gzip.decompress((folder / "post_topics.jsonl.gz").read_bytes()).splitlines()
    )
    feeds = {f["url"]: f for f in voice["feeds"]}
    assert archive.team in feeds and archive.opted_out not in feeds
    assert feeds[archive.team]["first_fetch_at"] <= feeds[archive.team]["last_fetch_at"]


def test_two_releases_of_one_state_have_the_same_content(archive: Archive) -> None:
    first, second = archive.release(), archive.release()
    assert second.name == f"{first.name}-2"
    for name in (f"{t}.{ext}" for t in TABLE_FILES for ext in ("parquet", "jsonl.gz")):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert "Posts added: 0" in (second / "CHANGES").read_text()


def changed_ids(changes: str) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for block in changes.split("\n\n")[1:]:
        head, _, ids = block.partition("\n")
        if head:
            found[head.split(":")[0].split(" (")[0]] = {int(i) for i in re.findall(r"\d+", ids)}
    return found


def test_changes_lists_exactly_the_posts_added_updated_and_taken_down(
    archive: Archive, feed_dir: Path
) -> None:
    before = archive.release()
    assert changed_ids((before / "CHANGES").read_text())["Posts added"] == table_ids(
        before, "posts"
    )
    (feed_dir / "blog.rss").write_bytes((feed_dir / "blog-next-week.rss").read_bytes())
    archive.fetch()  # Weeknotes 13 is new, 12 has a new title, 10 left the feed (kept)
    taken = archive.post_id("p=111")
    archive.voice("remove", str(taken), "--reason", SECRET_REASON,
                  "--config", str(archive.config))  # fmt: skip
    after = archive.release()
    assert changed_ids((after / "CHANGES").read_text()) == {
        "Posts added": {archive.post_id("p=113")},
        "Posts updated": {archive.post_id("p=112")},
        "Posts removed at their author's request": {taken},
        "Posts no longer included": set(),
    }


def test_a_release_made_while_the_archive_changes_sees_one_moment(archive: Archive) -> None:
    """A writer keeps giving a blog and one of its posts the same new title, in one
    transaction each; a consistent release holds both with one title. The
    release copies feeds before posts, so a release that read each table at
    its own moment would show them apart."""
    post = archive.post_id("p=111")
    (feed,) = archive.rows("SELECT feed_id FROM posts WHERE id = ?", post)[0]
    stop = threading.Event()
    written = []

    def write(conn: sqlite3.Connection, title: str) -> None:
        with conn:
            conn.execute("UPDATE feeds SET title = ? WHERE id = ?", [title, feed])
            conn.execute("UPDATE posts SET title = ? WHERE id = ?", [title, post])

    def writer() -> None:
        conn = sqlite3.connect(archive.db, timeout=30)
        while not stop.is_set():
            write(conn, f"v{len(written)}")
            written.append(1)
        conn.close()

    with sqlite3.connect(archive.db) as conn:
        write(conn, "v")
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        folder = archive.release()
    finally:
        stop.set()
        thread.join(timeout=60)
    assert len(written) > 1
    (db,) = folder.glob("voice-*.db")
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (blog,) = conn.execute("SELECT title FROM feeds WHERE id = ?", [feed]).fetchone()
        (title,) = conn.execute("SELECT title FROM posts WHERE id = ?", [post]).fetchone()
    assert blog == title


def test_a_missing_database_is_one_line_and_exit_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["release", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 3
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def release_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_keep_deletes_all_but_the_newest_releases_and_never_reuses_an_id(
    archive: Archive,
) -> None:
    day = archive.release().name
    for _ in range(2):
        archive.release()
    output = archive.voice("release", "--out", str(archive.releases), "--keep", "2")
    assert release_names(archive.releases) == [f"{day}-3", f"{day}-4"]
    assert f"deleted the old release {day}-2" in output
    assert archive.release().name == f"{day}-5"  # not {day}: that id named other bytes


def test_a_stopped_release_leaves_nothing_and_a_dead_ones_leftovers_are_cleared(
    archive: Archive,
) -> None:
    archive.releases.mkdir()
    abandoned = archive.releases / ".2026-01-01.partial-4194305"  # above Linux's pid_max
    abandoned.mkdir()
    (abandoned / "posts.parquet").write_bytes(b"half")
    stop = threading.Event()
    stop.set()
    with pytest.raises(ReleaseError, match="stopped before it was finished"):
        make_release(archive.db, clock=lambda: NOW, stop=stop)
    assert release_names(archive.releases) == []
    assert not list(archive.releases.glob(".*partial*"))
    assert make_release(archive.db, clock=lambda: NOW).release_id == f"{NOW:%Y-%m-%d}-2"


def test_releases_made_at_the_same_moment_get_different_ids(archive: Archive) -> None:
    made: list[str] = []

    def release() -> None:
        made.append(make_release(archive.db, clock=lambda: NOW).release_id)

    threads = [threading.Thread(target=release) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    day = f"{NOW:%Y-%m-%d}"
    assert sorted(made) == [day, f"{day}-2", f"{day}-3"]
    assert release_names(archive.releases) == sorted(made)


def test_a_damaged_earlier_release_is_passed_over(archive: Archive) -> None:
    first, second = archive.release(), archive.release()
    database = second / f"voice-{second.name}.db"
    database.chmod(0o644)
    database.write_bytes(b"not a database" * 100)
    assert latest_release(archive.releases, archive.db) is None  # so voice run makes one
    third = archive.release()
    assert (third / "CHANGES").read_text().startswith(
        f"Voice research release {third.name}: changes since {first.name}\n"
    )


def test_changes_compares_only_the_columns_both_releases_have(archive: Archive) -> None:
    """A release made by an older Voice, without a column this one adds, does not
    make every post look updated."""
    first = archive.release()
    database = first / f"voice-{first.name}.db"
    database.chmod(0o644)
    with sqlite3.connect(database) as conn:
        conn.execute("ALTER TABLE posts DROP COLUMN public_key")
    second = archive.release()
    assert changed_ids((second / "CHANGES").read_text())["Posts updated"] == set()


def test_a_posts_public_key_is_the_same_on_another_instance_and_never_changes(
    archive: Archive, server: FeedServer, feed_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "other").mkdir()
    other = Archive(server, tmp_path / "other")
    other.fetch()
    keys = "SELECT guid, public_key FROM posts WHERE guid IS NOT NULL ORDER BY guid"
    assert archive.rows(keys) == other.rows(keys)
    assert all(len(key) == 32 for _, key in archive.rows(keys))
    (updated,) = archive.rows("SELECT public_key FROM posts WHERE guid LIKE '%p=112'")
    (feed_dir / "blog.rss").write_bytes((feed_dir / "blog-next-week.rss").read_bytes())
    archive.fetch()  # Weeknotes 12 gets a new title
    assert archive.rows("SELECT public_key FROM posts WHERE guid LIKE '%p=112'") == [updated]
    taken = archive.post_id("p=111")
    archive.voice("remove", str(taken), "--reason", SECRET_REASON,
                  "--config", str(archive.config))  # fmt: skip
    assert archive.rows("SELECT public_key FROM posts WHERE id = ?", taken) == [(None,)]
    public = archive.rows("SELECT count(*), count(public_key) FROM posts_public")
    assert public[0][0] == public[0][1] > 0


DAY = timedelta(days=1)
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("latest", "every_days", "has_posts", "due", "failed_at"),
    [
        pytest.param(None, 30, True, True, None, id="none-yet"),
        pytest.param(None, 30, False, False, None, id="nothing-to-release"),
        pytest.param(NOW - 29 * DAY, 30, True, False, None, id="too-soon"),
        pytest.param(NOW - 30 * DAY, 30, True, True, None, id="a-month-on"),
        pytest.param(None, 0, True, False, None, id="switched-off"),
        pytest.param(None, 30, True, False, NOW - RETRY_AFTER / 2, id="failed-just-now"),
        pytest.param(None, 30, True, True, NOW - RETRY_AFTER, id="failed-a-while-ago"),
    ],
)
def test_release_due(
    latest: datetime | None,
    every_days: int,
    has_posts: bool,
    due: bool,
    failed_at: datetime | None,
) -> None:
    assert release_due(latest, NOW, every_days, has_posts, failed_at) is due


def test_the_runner_releases_when_due_and_keeps_the_newest(archive: Archive) -> None:
    clock = [NOW]
    runner = ReleaseRunner(archive.db, lambda: clock[0])
    made = []
    for days in (0, 1, 31, 62, 93):
        clock[0] = NOW + days * DAY
        made.append(runner.after_cycle(every_days=30, keep=2))
        runner.join()
    assert made == [True, False, True, True, True]
    kept = release_names(archive.db.parent / "releases")
    assert kept == [(NOW + 62 * DAY).strftime("%Y-%m-%d"), (NOW + 93 * DAY).strftime("%Y-%m-%d")]


def test_the_runner_replaces_a_withdrawn_release_at_once(archive: Archive) -> None:
    runner = ReleaseRunner(archive.db, lambda: NOW)
    assert runner.after_cycle(every_days=30, keep=12)
    runner.join()
    assert not runner.after_cycle(every_days=30, keep=12)
    archive.voice("remove", str(archive.post_id("p=111")), "--reason", "asked",
                  "--config", str(archive.config))  # fmt: skip
    assert runner.after_cycle(every_days=30, keep=12)  # the newest holds a taken-down post
    runner.join()
    assert release_names(archive.releases) == [NOW.strftime("%Y-%m-%d"), f"{NOW:%Y-%m-%d}-2"]


def test_after_a_failed_release_the_runner_waits_before_trying_again(archive: Archive) -> None:
    clock = [NOW]
    runner = ReleaseRunner(archive.db, lambda: clock[0])
    archive.releases.write_text("not a folder")
    assert runner.after_cycle(every_days=30, keep=12)
    runner.join()
    assert runner.failed_at == NOW
    archive.releases.unlink()
    clock[0] = NOW + RETRY_AFTER / 2
    assert not runner.after_cycle(every_days=30, keep=12)
    clock[0] = NOW + RETRY_AFTER
    assert runner.after_cycle(every_days=30, keep=12)
    runner.join()
    assert runner.failed_at is None and len(release_names(archive.releases)) == 1
