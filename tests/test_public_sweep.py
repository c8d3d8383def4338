"""Public by construction: after a takedown, no route Datasette offers shows what was removed.

A real database is built by the fetcher from two blogs; one blog is taken
down whole and one post of the other alone, with `voice remove`. Then every
table and view (hidden FTS tables included) is requested every way Datasette
offers: HTML, JSON, arrays, CSV, streamed CSV, `_where`, `_search`,
`_copies`, row pages and `?sql=`, and the public file's bytes are read. None
may contain a removed title, text, URL, author or the operator's reason.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from datasette.app import Datasette

from aggregator.cli import cli
from aggregator.registry.site import Site, metadata_for
from tests.support.feedserver import FeedServer

from .conftest import ROOT

SECRET_AUTHOR = "Zebedee Quartermain"
SECRET_ORG = "Quillfeather Borough Council"
SECRET_REASON = "asked by Ms Xanthippe Odd"


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def snippet(text: str) -> str:
    """A distinctive run of a post's text: its longest word and the two after it."""
    words = text.split()
    at = max(range(len(words)), key=lambda i: len(words[i]))
    return " ".join(words[at : at + 3])


@pytest.fixture
def taken_down(server: FeedServer, tmp_path: Path) -> tuple[Path, list[str]]:
    blog, other = server.url("philrumens.atom"), server.url("blog.rss")
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "settings:\n  host_gap_seconds: 0\nfeeds:\n"
        f"  - url: {blog}\n    region: South East\n    author: {SECRET_AUTHOR}\n"
        f"    organisation: {SECRET_ORG}\n"
        f"  - url: {other}\n    region: London\n    topics: [open-data]\n",
        encoding="utf-8",
    )
    db = tmp_path / "voice.db"
    args = ["--config", str(config), "--db", str(db)]
    invoke("fetch", "--allow-private-hosts", *args)
    conn = sqlite3.connect(db)
    removed = conn.execute(
        "SELECT p.title, p.url, p.text FROM posts p JOIN feeds f ON f.id = p.feed_id"
        " WHERE f.url = ? OR p.title LIKE 'Weeknotes 11%'",
        [blog],
    ).fetchall()
    (one_post,) = conn.execute("SELECT url FROM posts WHERE title LIKE 'Weeknotes 11%'").fetchone()
    conn.close()
    invoke("remove", blog, "--reason", SECRET_REASON, "--by", "operator-login", *args)
    invoke("remove", one_post, "--reason", SECRET_REASON, *args)
    secrets = [SECRET_AUTHOR, SECRET_ORG, SECRET_REASON, "operator-login", blog]
    for title, url, text in removed:
        secrets += [title, url, snippet(text)]
    assert len(removed) == 8
    return db, secrets


def routes(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    names = [
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    ]
    removed_posts = [
        r[0] for r in conn.execute("SELECT id FROM posts WHERE removed_at IS NOT NULL")
    ]
    removed_feeds = [
        r[0] for r in conn.execute("SELECT id FROM feeds WHERE removed_at IS NOT NULL")
    ]
    conn.close()
    found: list[str] = ["/", "/voice", "/voice.json", "/-/metadata.json"]
    for name in names:
        base = f"/voice/{quote(name)}"
        found += [
            base,
            f"{base}.json",
            f"{base}.json?_shape=array&_size=max",
            f"{base}.csv?_size=max",
            f"{base}.csv?_stream=on",
            f"{base}.json?_where=1%3D1%20or%20hidden%3D1",
            f"{base}.json?_copies=1&_size=max",
            f"{base}.json?_search=weeknotes",
            f"/voice.json?sql={quote(f'select * from [{name}]')}&_size=max",
            f"/voice.csv?sql={quote(f'select * from [{name}]')}&_stream=on",
        ]
    for post_id in removed_posts:
        found += [f"/voice/posts/{post_id}", f"/voice/posts/{post_id}.json"]
    for feed_id in removed_feeds:
        found += [f"/voice/feeds/{feed_id}", f"/voice/feeds/{feed_id}.json"]
    found.append(
        "/voice.json?sql=" + quote("select * from posts_fts where posts_fts match 'parking'")
    )
    return found


def decoded(body: str) -> str:
    """The response, with any base64 blobs in JSON decoded too."""
    blobs = re.findall(r'"encoded":\s*"([A-Za-z0-9+/=]+)"', body)
    return body + "".join(base64.b64decode(b).decode("latin-1") for b in blobs)


def test_no_route_shows_a_taken_down_post(taken_down: tuple[Path, list[str]]) -> None:
    db, secrets = taken_down
    metadata = metadata_for(Site(ROOT), "voice")
    ds = Datasette([str(db)], metadata=metadata, plugins_dir=str(ROOT / "plugins"))
    paths = routes(db)

    async def sweep() -> list[tuple[str, int, str]]:
        seen = []
        for path in paths:
            response = await ds.client.get(path)
            seen.append((path, response.status_code, decoded(response.text)))
        return seen

    answers = asyncio.run(sweep())
    assert len(answers) > 100
    ok = [a for a in answers if a[1] == 200]
    assert len(ok) > len(answers) // 2  # the sweep really read pages, not only errors
    leaks = [(path, s) for path, _, body in answers for s in secrets if s.lower() in body.lower()]
    assert leaks == [], sorted({s for _, s in leaks})


def test_the_public_file_holds_no_removed_bytes(taken_down: tuple[Path, list[str]]) -> None:
    db, secrets = taken_down
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = db.read_bytes().lower()
    leaks = [s for s in secrets if s.lower().encode() in data]
    assert leaks == []
    private = db.with_name("voice-private.db")
    kept = private.read_bytes() + (
        private.with_name(private.name + "-wal").read_bytes()
        if private.with_name(private.name + "-wal").exists()
        else b""
    )
    assert SECRET_REASON.encode() in kept  # the audit is kept, privately


def test_a_fetch_error_naming_an_address_stays_private(tmp_path: Path) -> None:
    """`localhost` is refused by the address guard; the public rows never say where it points."""
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - url: http://localhost:9/feed\n    region: Wales\n")
    db = tmp_path / "voice.db"
    invoke("fetch", "--config", str(config), "--db", str(db))
    conn = sqlite3.connect(db)
    public = json.dumps(
        conn.execute("SELECT * FROM feeds").fetchall()
        + conn.execute("SELECT * FROM fetches").fetchall()
    )
    conn.execute("ATTACH DATABASE ? AS private", [str(tmp_path / "voice-private.db")])
    (detail,) = conn.execute("SELECT error FROM private.feed_errors").fetchone()
    conn.close()
    assert "127.0.0.1" in detail and "blocked_address" not in detail
    assert "127.0.0.1" not in public and "points to a private address" in public


def test_no_route_tells_where_the_database_is_on_disk(tmp_path: Path) -> None:
    db = tmp_path / "voice.db"
    invoke("check", "--config", str(ROOT / "feeds.yaml"))  # a command that needs no database
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    ds = Datasette([str(db)], plugins_dir=str(ROOT / "plugins"))
    paths = (
        "/-/databases.json",
        "/-/databases",
        "/voice.json?sql=" + quote("select * from pragma_database_list"),
        "/voice.csv?sql=" + quote("select file from pragma_database_list"),
    )

    async def go() -> list[tuple[int, str]]:
        return [((r := await ds.client.get(p)).status_code, r.text) for p in paths]

    answers = asyncio.run(go())
    assert [status for status, _ in answers] == [200, 200, 200, 200]
    assert not [text for _, text in answers if str(tmp_path) in text]


def test_retag_gives_a_tombstone_no_topics(taken_down: tuple[Path, list[str]]) -> None:
    db, _ = taken_down
    invoke("retag", "--db", str(db), "--topics", str(ROOT / "topics.yaml"))
    conn = sqlite3.connect(db)
    tagged = conn.execute(
        "SELECT count(*) FROM post_topics JOIN posts ON posts.id = post_id"
        " WHERE posts.removed_at IS NOT NULL"
    ).fetchone()
    conn.close()
    assert tagged == (0,)


def test_new_default_topics_give_a_tombstone_no_topics(
    taken_down: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """The blog of the one post taken down gets a new default topic: not the tombstone."""
    db, _ = taken_down
    config = tmp_path / "feeds.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[open-data]", "[open-data, user-research]"), encoding="utf-8")
    invoke("fetch", "--allow-private-hosts", "--config", str(config), "--db", str(db))
    conn = sqlite3.connect(db)
    tombstones = conn.execute(
        "SELECT posts.topics, count(post_topics.topic) FROM posts"
        " LEFT JOIN post_topics ON posts.id = post_id"
        " WHERE posts.removed_at IS NOT NULL GROUP BY posts.topics"
    ).fetchall()
    living = conn.execute(
        "SELECT count(*) FROM post_topics t JOIN posts p ON p.id = t.post_id"
        " WHERE p.removed_at IS NULL AND t.topic = 'user-research' AND t.source = 'feed'"
    ).fetchone()
    conn.close()
    assert tombstones == [("[]", 0)]
    assert living[0] > 0  # the new default did reach the blog's other posts


def test_a_dedupe_rebuild_keeps_copies_of_a_taken_down_post_hidden(
    server: FeedServer, feed_dir: Path, tmp_path: Path
) -> None:
    """A mirror of the blog elsewhere must not come back when links are rebuilt."""
    (feed_dir / "mirror.atom").write_bytes((feed_dir / "philrumens.atom").read_bytes())
    blog = server.url("philrumens.atom")
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "settings:\n  host_gap_seconds: 0\nfeeds:\n"
        f"  - url: {blog}\n    region: South East\n    author: {SECRET_AUTHOR}\n"
        f"  - url: {server.url('mirror.atom')}\n    region: London\n",
        encoding="utf-8",
    )
    db = tmp_path / "voice.db"
    args = ["--config", str(config), "--db", str(db)]
    invoke("fetch", "--allow-private-hosts", *args)
    invoke("remove", blog, "--reason", SECRET_REASON, *args)
    query = "SELECT count(*) FROM posts_public"
    assert sqlite3.connect(db).execute(query).fetchone() == (0,)
    invoke("dedupe", *args)
    conn = sqlite3.connect(db)
    public = conn.execute(query).fetchone()
    held = conn.execute(
        "SELECT count(*) FROM posts c JOIN posts t ON t.id = c.duplicate_of"
        " WHERE t.removed_at IS NOT NULL"
    ).fetchone()
    conn.close()
    assert public == (0,) and held == (7,)


def test_each_tombstone_has_a_public_notice(taken_down: tuple[Path, list[str]]) -> None:
    db, _ = taken_down
    conn = sqlite3.connect(db)
    notices = conn.execute("SELECT notice, count(*) FROM takedowns GROUP BY notice").fetchall()
    tombstones = conn.execute("SELECT count(*) FROM posts WHERE removed_at IS NOT NULL")
    assert notices == [("Removed at the author's request", tombstones.fetchone()[0])]
    conn.close()


def test_a_taken_down_blog_leaves_the_fetchers_cache_of_its_entries(
    taken_down: tuple[Path, list[str]],
) -> None:
    """private.entry_blocks holds entry keys (guids, links): none for a removed blog."""
    db, _ = taken_down
    conn = sqlite3.connect(db)
    conn.execute("ATTACH DATABASE ? AS private", [str(db.with_name("voice-private.db"))])
    removed = {r[0] for r in conn.execute("SELECT id FROM feeds WHERE removed_at IS NOT NULL")}
    cached = {r[0] for r in conn.execute("SELECT feed_id FROM private.entry_blocks")}
    conn.close()
    assert removed and cached and not removed & cached
