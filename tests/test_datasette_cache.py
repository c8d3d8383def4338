"""Answers kept while the database is unchanged (plugins/voice_cache.py), on a real server.

A real Datasette process on 127.0.0.1 as `voice serve` runs it, over a
database the fetcher filled; the database is then changed by another
connection, as the fetcher and `voice remove` change it, and the next answer
must show the change.
"""

from __future__ import annotations

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


@pytest.fixture
def served(server: FeedServer, tmp_path: Path, pool: ParsePool) -> Iterator[tuple[str, Path]]:
    db = tmp_path / "voice.db"
    build(server, db, pool)
    with live_datasette(db, log=tmp_path / "datasette.log") as base:
        yield base, db


def change(db: Path, sql: str, *params: object) -> None:
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(sql, params)
        conn.commit()


def newest(db: Path) -> tuple[int, str]:
    with closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT id, title FROM river ORDER BY published DESC LIMIT 1").fetchone()
    return row[0], row[1]


PUBLIC_PAGES = ["/", "/feed.atom", "/feed.json", "/voice/river.json", "/voice/posts.json"]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_a_repeat_is_the_same_answer_and_a_304_when_the_reader_has_it(
    served: tuple[str, Path], path: str
) -> None:
    base, _ = served
    with httpx.Client(base_url=base) as http:
        first, second = http.get(path), http.get(path)
        assert first.status_code == second.status_code == 200
        assert first.content == second.content
        tag = first.headers["etag"]
        assert tag == second.headers["etag"] and first.headers["cache-control"]
        again = http.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_a_changed_title_shows_at_once(served: tuple[str, Path], path: str) -> None:
    base, db = served
    post_id, title = newest(db)
    with httpx.Client(base_url=base) as http:
        before = http.get(path)
        assert title.encode() in before.content or path == "/voice/posts.json"
        change(db, "UPDATE posts SET title = ? WHERE id = ?", "Renamed in the database", post_id)
        after = http.get(path, headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200
        assert after.headers["etag"] != before.headers["etag"]
        assert b"Renamed in the database" in after.content


def test_a_taken_down_post_leaves_the_front_page_and_the_facets_at_once(
    served: tuple[str, Path],
) -> None:
    base, db = served
    post_id, title = newest(db)
    with httpx.Client(base_url=base) as http:
        assert title.encode() in http.get("/").content
        sql = "INSERT INTO post_topics (post_id, topic, source, score, rules_version)"
        change(db, sql + " VALUES (?, 'open-data', 'rules', 1.0, 'test')", post_id)
        before = facet_totals(http, "/voice/river.json")
        assert before["region"] > 0 and before["topics"] > 0
        change(db, "UPDATE posts SET hidden = 1, removed_at = '2026-11-24' WHERE id = ?", post_id)
        assert title.encode() not in http.get("/").content
        after = facet_totals(http, "/voice/river.json")
        assert after["region"] == before["region"] - 1
        assert after["topics"] == before["topics"] - len(topics_of(db, post_id)) < before["topics"]


def facet_totals(http: httpx.Client, path: str) -> dict[str, int]:
    """Each facet's counts added up, asked with no-cache so only the kept counts could be stale."""
    data = http.get(path, headers={"Cache-Control": "no-cache"}).json()
    facets = data["facet_results"]
    assert {f["type"] for f in facets.values()} == {"column", "topic"}
    return {name: sum(v["count"] for v in f["results"]) for name, f in facets.items()}


def topics_of(db: Path, post_id: int) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT topic FROM post_topics WHERE post_id = ?", [post_id])
        return [r[0] for r in rows]


def test_the_river_is_still_newest_first_for_researchers(served: tuple[str, Path]) -> None:
    base, _ = served
    rows = httpx.get(base + "/voice/river.json?_shape=array").json()
    published = [r["published"] for r in rows]
    assert len(published) > 1 and published == sorted(published, reverse=True)


def test_sql_in_the_address_is_never_kept(served: tuple[str, Path]) -> None:
    base, _ = served
    path = "/voice.json?_shape=array&sql=select+random()+as+r"
    with httpx.Client(base_url=base) as http:
        answers = {http.get(path).json()[0]["r"] for _ in range(3)}
        assert len(answers) == 3
        assert "etag" not in http.get(path).headers


@pytest.mark.parametrize("path", ["/connect", "/connect/status/" + "a" * 43, "/-/versions.json"])
def test_private_and_datasettes_own_pages_are_never_kept(
    served: tuple[str, Path], path: str
) -> None:
    base, _ = served
    with httpx.Client(base_url=base) as http:
        first = http.get(path)
        assert "etag" not in first.headers
        if path.startswith("/connect"):
            assert first.headers["cache-control"] == "no-store"
        # "*" matches any kept answer (plugins/voice_cache._not_modified): a 304 here
        # would mean the page was kept
        assert http.get(path, headers={"If-None-Match": "*"}).status_code != 304


@pytest.mark.parametrize(
    "login", [{"Authorization": "Bearer token"}, {"Cookie": "ds_actor=someone"}]
)
def test_a_logged_in_request_is_never_answered_from_a_kept_copy(
    served: tuple[str, Path], login: dict[str, str]
) -> None:
    base, _ = served
    with httpx.Client(base_url=base) as http:
        assert "etag" in http.get("/").headers  # kept for everyone else
        answer = http.get("/", headers={**login, "If-None-Match": "*"})
        assert answer.status_code == 200 and "etag" not in answer.headers


def test_the_views_search_as_posts_does(served: tuple[str, Path]) -> None:
    base, _ = served
    for table in ("posts", "river", "posts_public"):
        path = f"/voice/{table}.json?_search=co-operative&_shape=array"
        found = httpx.get(base + path).json()
        assert any("rebooted" in r["title"] for r in found), table
        every = httpx.get(base + f"/voice/{table}.json?_shape=array").json()
        assert len(found) < len(every), table
