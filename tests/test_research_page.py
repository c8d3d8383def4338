"""/research and the releases Datasette serves beside the live data (issue 14)."""

from __future__ import annotations

import json
import sqlite3
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from datasette.utils import format_bytes

from tests.support.archive import Archive
from tests.support.feedserver import FeedServer
from tests.support.live import live_datasette

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "plugins"))
from reader.releases import DAMAGED, TAKEN_DOWN, TakenDown, find_releases  # noqa: E402


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def archive(server: FeedServer, tmp_path: Path) -> Archive:
    made = Archive(server, tmp_path, opted_out=False)
    made.fetch()
    return made


NO_FILE = b"There is no such file in a research release."


def test_each_release_is_listed_served_and_downloadable(archive: Archive, tmp_path: Path) -> None:
    first = archive.release()
    with live_datasette(archive.db, log=tmp_path / "datasette.log") as base:
        status, page = get(base + "/research")
        assert status == 200
        manifest = json.loads((first / "datapackage.json").read_text())
        assert manifest["citation"].encode() in page
        database_size = (first / f"voice-{first.name}.db").stat().st_size
        assert f"({format_bytes(database_size)})".encode() in page  # as Datasette's link says
        name = f"voice-{first.name}"
        status, body = get(f"{base}/{name}/posts.json?_shape=array&_size=max&_copies=1")
        assert status == 200
        with sqlite3.connect(first / f"{name}.db") as conn:
            assert len(json.loads(body)) == conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        assert get(f"{base}/{name}.db") == (200, (first / f"{name}.db").read_bytes())
        status, body = get(f"{base}/{name}/posts.json?_search=weeknotes")
        assert status == 400 and b"has no full-text search" in body  # not every row
        assert manifest["citation"].encode() in get(f"{base}/{name}")[1]  # its own page
        files = ("posts.parquet", "feeds.jsonl.gz", "datapackage.json", "CHANGES", f"{name}.db")
        for file in files:
            assert get(f"{base}/research/{first.name}/{file}") == (200, (first / file).read_bytes())
        (first / "notes.txt").write_text("beside the release, not in its manifest")
        for missing in ("voice-private.db", "staging.db", "notes.txt", "nothing.parquet"):
            assert get(f"{base}/research/{first.name}/{missing}") == (404, NO_FILE), missing
        assert get(f"{base}/research/2001-01-01/CHANGES") == (404, NO_FILE)

        second = archive.release()  # while the site runs: no restart needed
        assert f"Release {second.name}".encode() in get(base + "/research")[1]
        assert get(f"{base}/voice-{second.name}.json")[0] == 200


def test_a_release_holding_a_post_since_taken_down_is_withdrawn(
    archive: Archive, tmp_path: Path
) -> None:
    before = archive.release()
    taken = archive.post_id("p=111")
    archive.voice("remove", str(taken), "--reason", "asked", "--config", str(archive.config))
    after = archive.release()
    with live_datasette(archive.db, log=tmp_path / "datasette.log") as base:
        page = get(base + "/research")[1].decode()
        assert "Withdrawn" in page
        name = f"voice-{before.name}"
        assert get(f"{base}/{name}.db")[0] == 404
        assert get(f"{base}/{name}/posts.json")[0] == 404
        assert get(f"{base}/research/{before.name}/posts.jsonl.gz")[0] == 404
        assert get(f"{base}/voice-{after.name}.db")[0] == 200


def test_a_takedown_withdraws_a_release_while_the_site_runs(
    archive: Archive, tmp_path: Path
) -> None:
    release = archive.release()
    name = f"voice-{release.name}"
    with live_datasette(archive.db, log=tmp_path / "datasette.log") as base:
        assert get(f"{base}/{name}/posts.json")[0] == 200
        assert get(f"{base}/research/{release.name}/posts.jsonl.gz")[0] == 200
        archive.voice("remove", archive.team, "--reason", "asked",
                      "--config", str(archive.config))  # fmt: skip
        assert get(f"{base}/{name}/posts.json")[0] == 404
        assert get(f"{base}/{name}.db")[0] == 404
        assert get(f"{base}/research/{release.name}/posts.jsonl.gz") == (404, NO_FILE)
        page = get(base + "/research")[1].decode()
        assert "Withdrawn: it holds posts or blogs since removed" in page
        assert get(base + "/voice/posts.json")[0] == 200  # the live data carries on


def test_a_release_holding_a_removed_blog_or_unreadable_is_withdrawn(archive: Archive) -> None:
    release = archive.release()
    (feed,) = archive.rows("SELECT id FROM feeds ORDER BY id LIMIT 1")[0]
    (found,) = find_releases(archive.releases, TakenDown(blogs=frozenset([feed])))
    assert found.withdrawn_because == TAKEN_DOWN
    (found,) = find_releases(archive.releases, TakenDown(blogs=frozenset([10_000])))
    assert not found.withdrawn
    database = release / f"voice-{release.name}.db"
    database.chmod(0o644)
    database.write_bytes(b"not a database" * 100)
    (found,) = find_releases(archive.releases, TakenDown())  # found with nothing taken down
    assert found.withdrawn_because == DAMAGED


@pytest.mark.parametrize(
    "manifest",
    [
        b"{",
        b"[]",
        b'{"created": "2026-12-07"}',
        b'{"created": "x", "resources": [{"path": 1}]}',
        "no-hash",
        "rows-not-a-number",
    ],
)
def test_a_release_with_a_broken_manifest_is_not_listed(
    archive: Archive, manifest: bytes | str
) -> None:
    release = archive.release()
    path = release / "datapackage.json"
    if isinstance(manifest, str):
        good = json.loads(path.read_text())
        first = good["resources"][0]
        if manifest == "no-hash":
            del good["resources"][-1]["hash"]
        else:
            first["rows"] = "many"
        manifest = json.dumps(good).encode()
    path.chmod(0o644)
    path.write_bytes(manifest)
    assert find_releases(archive.releases, TakenDown()) == []


def test_releases_are_withdrawn_while_takedowns_cannot_be_read(
    archive: Archive, tmp_path: Path
) -> None:
    """Fail closed: no release is served while Voice cannot check what was taken
    down; one served before comes back after a restart, and the page says so."""
    release = archive.release()
    name = f"voice-{release.name}"
    with live_datasette(archive.db, log=tmp_path / "datasette.log") as base:
        assert get(f"{base}/{name}/posts.json")[0] == 200
        with sqlite3.connect(archive.db) as conn:
            conn.execute("ALTER TABLE removals RENAME TO removals_away")
        assert get(f"{base}/{name}/posts.json")[0] == 404
        status, page = get(base + "/research")
        assert status == 200 and f"Release {release.name}".encode() not in page
        assert get(base + "/voice/posts.json")[0] == 200
        with sqlite3.connect(archive.db) as conn:
            conn.execute("ALTER TABLE removals_away RENAME TO removals")
        assert "is served again after the site restarts" in get(base + "/research")[1].decode()
        assert get(f"{base}/{name}/posts.json")[0] == 404
    assert "research releases withdrawn" in (tmp_path / "datasette.log").read_text()
    with live_datasette(archive.db, log=tmp_path / "datasette2.log") as base:
        assert get(f"{base}/{name}/posts.json")[0] == 200

