"""Datasette in-process on a real database built by the fetcher."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from datasette.app import Datasette
from ruamel.yaml import YAML

from aggregator.parsing.pool import ParsePool
from aggregator.update import update_feeds
from tests.support.feedserver import FeedServer

from .conftest import ROOT, registry_for


def datasette_for(db: Path) -> Datasette:
    metadata = YAML(typ="safe").load((ROOT / "metadata.yml").read_text())
    return Datasette([str(db)], metadata=metadata, plugins_dir=str(ROOT / "plugins"))


def get_json(ds: Datasette, path: str) -> dict:
    async def go() -> dict:
        response = await ds.client.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    return asyncio.run(go())


def build(server: FeedServer, db: Path, pool: ParsePool) -> None:
    update_feeds(
        registry_for(server.url("philrumens.atom"), server.url("localgov-digital.rss")),
        db,
        due_only=False,
        clock=lambda: datetime(2026, 11, 23, tzinfo=UTC),
        pool=pool,
    )


def test_posts_json_newest_first_with_region_facet(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    build(server, db_path, pool)
    data = get_json(datasette_for(db_path), "/voice/posts.json?_shape=objects")
    published = [r["published"] for r in data["rows"]]
    assert published == sorted(published, reverse=True)
    facet = {v["value"]: v["count"] for v in data["facet_results"]["region"]["results"]}
    assert facet == {"South East": 7, "National": 1}


def test_filter_by_region_and_search(server: FeedServer, db_path: Path, pool: ParsePool) -> None:
    build(server, db_path, pool)
    ds = datasette_for(db_path)
    national = get_json(ds, "/voice/posts.json?region=National&_shape=array")
    assert len(national) == 1 and national[0]["organisation"] == "Org 1"
    found = get_json(ds, "/voice/posts.json?_search=co-operative&_shape=array")
    assert any("rebooted" in r["title"] for r in found)


def test_post_html_rendered_by_plugin(server: FeedServer, db_path: Path, pool: ParsePool) -> None:
    build(server, db_path, pool)
    ds = datasette_for(db_path)

    async def page() -> str:
        return (await ds.client.get("/voice/posts/1")).text

    html = asyncio.run(page())
    assert '<div class="voice-post"' in html


def test_taken_down_posts_are_left_out_of_public_pages(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    build(server, db_path, pool)
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE posts SET hidden = 1 WHERE region = 'National'")
    conn.commit()
    conn.close()
    ds = datasette_for(db_path)
    for path in (
        "/voice/posts.json?_shape=array",
        "/voice/posts_public.json?_shape=array",
        "/voice/river.json?_shape=array",
    ):
        regions = {r["region"] for r in get_json(ds, path)}
        assert regions == {"South East"}, path
    everything = get_json(ds, "/voice.json?_shape=array&sql=select+count(*)+as+n+from+posts")
    assert everything == [{"n": 8}]  # still in the database, for the audit


def test_topic_facet_and_filter_go_through_post_topics(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    build(server, db_path, pool)
    conn = sqlite3.connect(db_path)
    conn.executemany(
        "INSERT INTO post_topics (post_id, topic, source, score, rules_version)"
        " VALUES (?, ?, 'rules', 1.0, 'test')",
        [(1, "open-data"), (2, "open-data"), (2, "democracy"), (3, "democracy"), (4, "events")],
    )
    conn.commit()
    conn.close()
    ds = datasette_for(db_path)
    data = get_json(ds, "/voice/posts.json?_shape=objects")
    counts = {v["value"]: v["count"] for v in data["facet_results"]["topics"]["results"]}
    assert counts == {"open-data": 2, "democracy": 2, "events": 1}
    both = get_json(ds, "/voice/posts.json?_shape=array&_topic=open-data&_topic=democracy")
    assert [r["id"] for r in both] == [2]
    one = get_json(ds, "/voice/river.json?_shape=objects&_topic=democracy")
    assert {r["id"] for r in one["rows"]} <= {2, 3}


def test_a_broken_topic_facet_query_is_an_error_not_a_time_out(tmp_path: Path) -> None:
    """Only a real time-out may be reported as one; a wrong query must show as an error."""
    db = tmp_path / "voice.db"
    with sqlite3.connect(db) as conn:  # a posts table without the post_topics it needs
        conn.execute(
            "CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT, hidden INTEGER DEFAULT 0,"
            " duplicate_of INTEGER)"
        )
        conn.execute("INSERT INTO posts (title) VALUES ('a post')")
    ds = Datasette([str(db)], plugins_dir=str(ROOT / "plugins"))

    async def go() -> tuple[int, str]:
        response = await ds.client.get("/voice/posts.json?_facet_topic=topics")
        return response.status_code, response.text

    status, text = asyncio.run(go())
    assert status >= 400, text
    assert "post_topics" in text


def test_posts_public_and_river_pages_answer(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    """posts_public was a SELECT * view with a BLOB column: its HTML page answered 500."""
    build(server, db_path, pool)
    ds = datasette_for(db_path)

    async def go() -> list[int]:
        pages = ("/voice/posts_public", "/voice/river", "/voice/posts_public.json")
        return [(await ds.client.get(page)).status_code for page in pages]

    assert asyncio.run(go()) == [200, 200, 200]
