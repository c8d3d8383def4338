"""/research and the releases Datasette serves beside the live data (issue 14)."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.archive import Archive
from tests.support.feedserver import FeedServer
from tests.support.live import live_datasette


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


def test_each_release_is_listed_served_and_downloadable(archive: Archive, tmp_path: Path) -> None:
    first = archive.release()
    with live_datasette(archive.db, log=tmp_path / "datasette.log") as base:
        status, page = get(base + "/research")
        assert status == 200
        manifest = json.loads((first / "datapackage.json").read_text())
        assert manifest["citation"].encode() in page
        name = f"voice-{first.name}"
        status, body = get(f"{base}/{name}/posts.json?_shape=array&_size=max&_copies=1")
        assert status == 200
        with sqlite3.connect(first / f"{name}.db") as conn:
            assert len(json.loads(body)) == conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        assert get(f"{base}/{name}.db") == (200, (first / f"{name}.db").read_bytes())
        assert manifest["citation"].encode() in get(f"{base}/{name}")[1]  # its own page
        for file in ("posts.parquet", "feeds.jsonl.gz", "datapackage.json", "CHANGES"):
            assert get(f"{base}/research/{first.name}/{file}") == (200, (first / file).read_bytes())
        for missing in ("voice-private.db", "staging.db", f"{name}.db", "nothing.parquet"):
            assert get(f"{base}/research/{first.name}/{missing}")[0] == 404, missing
        assert get(f"{base}/research/2001-01-01/CHANGES")[0] == 404

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
