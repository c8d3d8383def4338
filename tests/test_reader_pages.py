"""Readers' Voice (issue 10): the pages people read, served by Datasette in-process.

The database is built by really fetching feeds from a local server with
`voice fetch`; tests that change it work on their own copy. Posts added by
hand below are "new posts arriving": they get the next ids, as the fetcher's
would.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from datasette.app import Datasette

from aggregator.cli import cli
from aggregator.registry.site import Site, metadata_for
from tests.support.feedserver import FeedServer

from .conftest import DATA, DEMO_FEEDS, ROOT, rows

sys.path.insert(0, str(ROOT / "plugins"))
from reader import lookup, selection  # noqa: E402

BLOGS = [  # (file, region, extra feeds.yaml lines)
    ("philrumens.atom", "South East", "title: Phil Rumens\norganisation: Brighton and Hove"),
    ("localgov-digital.rss", "National", "title: LocalGov Digital"),
    ("localgov-digital-workstreams.rdf", "National", "title: LocalGov Digital workstreams"),
    ("blog.rss", "London", "title: Weeknotes from a council digital team\ntopics: [open-data]"),
]
HOSTILE = [
    "active-content.rss",
    "active-content.atom",
    "remote-images.rss",
    "dates.rss",
    "valid.rss",
    "seed.rss",
]


def fetch_site(directory: Path, files: list[tuple[str, str, str]], at: Path) -> Path:
    """Serve `directory`, write feeds.yaml for `files` and fetch them all into at/voice.db."""
    at.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "topics.yaml", at / "topics.yaml")
    with FeedServer(directory) as server:
        lines = ["settings:", "  host_gap_seconds: 0", "feeds:"]
        for name, region, extra in files:
            lines += [f"  - url: {server.url(name)}", f"    region: {region}"]
            lines += [f"    {line}" for line in extra.splitlines()]
        (at / "feeds.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        invoke("fetch", "--allow-private-hosts", *site_args(at))
    return at / "voice.db"


def site_args(at: Path) -> list[str]:
    return ["--config", str(at / "feeds.yaml"), "--db", str(at / "voice.db")]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    feeds = tmp_path_factory.mktemp("feeds")
    for name, _, _ in BLOGS:
        source = DEMO_FEEDS / name if (DEMO_FEEDS / name).exists() else DATA / "update" / name
        shutil.copy(source, feeds / name)
    return fetch_site(feeds, BLOGS, tmp_path_factory.mktemp("site"))


@pytest.fixture
def site(built: Path, tmp_path: Path) -> Path:
    """A copy of the built site (database, private file, feeds.yaml) this test may change."""
    target = tmp_path / "copy"
    shutil.copytree(built.parent, target)
    return target / "voice.db"


def app(db: Path) -> Datasette:
    lookup.clear_cache()
    return Datasette(
        [str(db)],
        metadata=metadata_for(Site(ROOT), "voice"),
        plugins_dir=str(ROOT / "plugins"),
        template_dir=str(ROOT / "templates"),
        static_mounts=[("voice-static", str(ROOT / "static"))],
    )


def get(ds: Datasette, path: str) -> tuple[int, str]:
    async def go() -> tuple[int, str]:
        response = await ds.client.get(path)
        return response.status_code, response.text

    return asyncio.run(go())


def add_posts(db: Path, feed_title: str, titles: list[str], text: str = "") -> list[int]:
    """New public posts arriving for one blog (not back catalogue), newest last."""
    conn = sqlite3.connect(db)
    with conn:
        feed_id, region = conn.execute(
            "SELECT id, region FROM feeds WHERE title = ?", [feed_title]
        ).fetchone()
        ids = []
        for title in titles:
            cursor = conn.execute(
                "INSERT INTO posts (feed_id, entry_key, url, title, text, published,"
                " first_seen_at, region, raw_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'x')",
                [feed_id, f"test:{title}", f"https://example.org/{len(title)}", title,
                 text or f"{title}: a post about council websites.", "2026-11-20T10:00:00Z",
                 "2026-11-23T12:00:00Z", region],
            )  # fmt: skip
            ids.append(cursor.lastrowid)
    conn.close()
    return ids


def river_ids(db: Path) -> list[int]:
    return [
        r[0]
        for r in rows(
            db,
            "SELECT id FROM posts WHERE hidden = 0 AND duplicate_of IS NULL"
            " AND removed_at IS NULL AND is_backfill = 0 ORDER BY id DESC",
        )
    ]


def post_id(db: Path, title_like: str) -> int:
    return rows(db, "SELECT id FROM posts WHERE title LIKE ?", title_like)[0][0]


def test_every_page_answers_with_its_content(built: Path) -> None:
    ds = app(built)
    weeknotes = post_id(built, "Weeknotes 12%")
    pages = {
        "/": ["Latest posts from member blogs", 'href="/feed.atom"', "Browse by region"],
        "/topics": ["Open data", "Publishing council data openly", "/topics/open-data"],
        "/topics/open-data": ["<h1>Open data</h1>", "Weeknotes 12", "/topics/open-data.atom"],
        "/regions": ['href="/regions/london"', "South East"],
        "/regions/london": ["<h1>London</h1>", "Weeknotes 11", 'href="/regions/london.json"'],
        "/blogs": ["Phil Rumens", 'href="/blogs.opml"', "<h2>National</h2>"],
        "/blogs/phil-rumens": ["Brighton and Hove", "Working", "Last checked"],
        f"/posts/{weeknotes}": ["Read the original on", "Open data", "usual topics"],
        "/search?q=parking": ["<mark>parking</mark>", "Best match first", "Weeknotes 11"],
        "/search?q=parking&order=recent&region=london": ["Newest first", 'value="parking"'],
        "/search": ['<label for="q">', "Published from"],
    }
    for path, expected in pages.items():
        status, body = get(ds, path)
        assert status == 200, (path, body[:500])
        assert body.count("<h1") == 1, path
        for text in expected:
            assert text in body, (path, text)
    status, body = get(ds, "/")
    assert 'type="application/atom+xml"' in body and 'type="application/feed+json"' in body


def test_filters_are_carried_to_the_feed_links(built: Path) -> None:
    ds = app(built)
    _, body = get(ds, "/topics/open-data?region=london&since=2016-01-01")
    assert 'href="/topics/open-data.atom?region=london&amp;since=2016-01-01"' in body
    _, body = get(ds, "/search?q=parking&topic=open-data")
    assert 'href="/search.json?topic=open-data&amp;q=parking"' in body


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/search?since=2016-02-30", "is not a date"),
        ("/search?q=x&since=2017-01-01&until=2016-01-01", "on or before"),
        ("/?topic=nope", "There is no topic"),
        ("/?region=atlantis", "There is no region"),
        ("/topics/open-data?blog=nobody", "There is no blog"),
        ("/?before=abc", "post number"),
        ("/?before=-3", "post number"),
        ("/search?q=x&page=0", "from 1 to 40"),
        ("/search?q=x&page=41", "from 1 to 40"),
        ("/search?q=x&order=nope", "Order must be"),
        ("/?order=relevance", "needs search words"),
        ("/?topic=Open%20Data", "is not a topic address"),
        ("/search?q=" + "a" * 201, "at most 200"),
    ],
)
def test_bad_parameters_answer_400_with_the_reason(built: Path, path: str, message: str) -> None:
    status, body = get(app(built), path)
    assert status == 400, body[:500]
    assert message in body


@pytest.mark.parametrize("q", ['"unclosed', "AND", "foo:bar", "NEAR(", "*", "OR OR", "^", '"'])
def test_search_syntax_never_fails_with_a_500(built: Path, q: str) -> None:
    status, body = get(app(built), "/search?" + f"q={q}".replace('"', "%22"))
    assert status in (200, 400), body[:500]
    if status == 400:
        assert "Search could not understand" in body
    for leak in ("fts5", "syntax error", "sqlite", "SELECT", "Traceback"):
        assert leak not in body


@pytest.mark.parametrize("path", ["/topics/nope", "/regions/atlantis", "/blogs/x", "/posts/99999"])
def test_missing_things_are_404_pages(built: Path, path: str) -> None:
    status, body = get(app(built), path)
    assert status == 404 and "Page not found" in body


def test_paging_loses_and_repeats_nothing_while_posts_arrive(site: Path) -> None:
    blogs = ["Phil Rumens", "LocalGov Digital", "Weeknotes from a council digital team"]
    newest = rows(site, "SELECT f.title FROM feeds f JOIN posts p ON p.feed_id = f.id"
                  f" WHERE p.id = {river_ids(site)[0]}")[0][0]  # fmt: skip
    blogs.sort(key=lambda b: b == newest)  # the fetch order decides ids: no run across
    for n in range(60):  # alternate blogs, so fair share collapses nothing
        add_posts(site, blogs[n % 3], [f"Earlier post {n}"])
    at_start = river_ids(site)
    ds = app(site)
    seen: list[int] = []
    path: str | None = "/"
    arrived = 0
    while path:
        status, body = get(ds, path.replace("&amp;", "&"))
        assert status == 200
        assert not re.search(r"\d+ more from", body)
        seen += [int(i) for i in re.findall(r'href="/posts/(\d+)">Read on Voice', body)]
        arrived += 1
        add_posts(site, blogs[arrived % 3], [f"Arrived while reading {arrived}"])
        found = re.search(r'<a href="([^"]+)" rel="next">Older posts', body)
        path = found.group(1) if found else None
    assert arrived >= 3  # 25 a page
    assert len(seen) == len(set(seen))
    assert seen == at_start


def test_fair_share_collapses_a_long_run_from_one_blog(site: Path) -> None:
    titles = [f"Run post number {n}" for n in range(1, 6)]
    add_posts(site, "LocalGov Digital", ["Before the run"])
    add_posts(site, "Phil Rumens", titles)
    _, body = get(app(site), "/")
    for title in titles[2:]:  # newest first: 5, 4, 3 shown
        assert title in body
    for title in titles[:2]:
        assert title not in body
    assert '<a href="/blogs/phil-rumens">2 more from Phil Rumens</a>' in body
    assert body.index("Run post number 3") < body.index("2 more from") < body.index("Before")
    _, page = get(app(site), "/blogs/phil-rumens")
    assert all(t in page for t in titles)  # a blog's own page shows them all


def test_search_orders_by_relevance_or_first_seen_and_escapes_snippets(site: Path) -> None:
    add_posts(
        site, "Phil Rumens", ["Zebrafish zebrafish"], "Zebrafish zebrafish zebrafish in ponds."
    )
    add_posts(
        site,
        "LocalGov Digital",
        ["A newer post"],
        "Long text about council websites " * 20 + "<script>alert(1)</script> and one zebrafish.",
    )
    ds = app(site)
    _, best = get(ds, "/search?q=zebrafish")
    _, recent = get(ds, "/search?q=zebrafish&order=recent")
    assert best.index("Zebrafish zebrafish") < best.index("A newer post")
    assert recent.index("A newer post") < recent.index("Zebrafish zebrafish")
    assert "<mark>zebrafish</mark>" in recent
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in recent
    assert "<script>alert" not in recent
    _, by_topic = get(ds, "/search?q=weeknotes&topic=open-data&region=london&since=2000-01-01")
    assert "Weeknotes 12" in by_topic and "Zebrafish" not in by_topic


def test_taken_down_posts_appear_on_no_page(site: Path) -> None:
    conn = sqlite3.connect(site)
    conn.execute("UPDATE posts SET is_backfill = 0")  # so the river shows everything
    conn.commit()
    conn.close()
    gone_id, title, url = rows(
        site, "SELECT id, title, url FROM posts WHERE title LIKE 'Weekn%11%'"
    )[0]
    invoke("remove", url, "--reason", "asked", *site_args(site.parent))
    ds = app(site)
    status, _ = get(ds, f"/posts/{gone_id}")
    assert status == 404
    for path in [
        "/",
        "/topics/open-data",
        "/regions/london",
        "/blogs/weeknotes-from-a-council-digital-team",
        "/search?q=parking",
        "/search?q=weeknotes&order=recent",
    ]:
        status, body = get(ds, path)
        assert status == 200, path
        assert title not in body, path
        assert "Weeknotes 12" in body or "No posts" in body, path


def test_find_posts_runs_a_fixed_number_of_queries(built: Path) -> None:
    ds = app(built)
    db = ds.get_database("voice")
    calls: list[str] = []
    original = db.execute

    async def counting(sql: str, params: Any = None, **kwargs: Any) -> Any:
        calls.append(sql)
        return await original(sql, params, **kwargs)

    db.execute = counting  # type: ignore[method-assign]
    cases = [
        {},
        {"river": True},
        {"topic": "open-data", "region": "london"},
        {"blog": "phil-rumens"},
        {"q": "digital"},
        {"q": "digital", "order": "recent", "since": "2000-01-01"},
    ]
    for fixed in cases:
        counts = []
        for limit in (2, 25):
            calls.clear()
            page = asyncio.run(selection.find_posts(db, selection.Selection(**fixed), limit))
            assert len(page.cards) <= limit
            counts.append(len(calls))
        assert counts[0] == counts[1] <= 4, (fixed, counts)
    calls.clear()
    asyncio.run(lookup.nav_counts(db))
    asyncio.run(lookup.nav_counts(db))
    assert len(calls) <= 2  # the second call is answered from the cache


@pytest.fixture
def hostile_site(tmp_path: Path) -> Iterator[Path]:
    regions = ["South East", "London", "National", "Wales", "North West", "Scotland"]
    files = [(name, regions[i], "") for i, name in enumerate(HOSTILE)]
    db = fetch_site(DATA / "hostile", files, tmp_path / "hostile")
    conn = sqlite3.connect(db)
    conn.execute("UPDATE posts SET is_backfill = 0")
    conn.commit()
    conn.close()
    yield db


def test_hostile_content_is_escaped_on_every_page(hostile_site: Path) -> None:
    ds = app(hostile_site)
    _, plain = get(ds, "/regions")  # Datasette's own scripts, on every page
    own = re.findall(r"<script\b.*?</script>", plain, re.S)
    paths = ["/", "/blogs", "/search?q=script", "/search?q=alert&order=recent"]
    paths += [f"/posts/{i}" for (i,) in rows(hostile_site, "SELECT id FROM posts")]
    paths += [f"/blogs/{s}" for (s,) in rows(hostile_site, "SELECT slug FROM feeds")]
    regions = rows(hostile_site, "SELECT DISTINCT region FROM feeds")
    paths += [f"/regions/{selection.slugify(r)}" for (r,) in regions]
    answered = 0
    for path in paths:
        status, body = get(ds, path)
        assert status in (200, 404), path
        answered += status == 200
        for script in own:
            body = body.replace(script, "")
        assert "<script" not in body.lower(), path
        assert not re.search(r"<[a-z]+[^>]*\son[a-z]+\s*=", body, re.I), path
        assert "javascript:" not in body.lower(), path
    assert answered > len(HOSTILE)


def test_a_copy_is_read_on_its_canonical_posts_page(built: Path, tmp_path: Path) -> None:
    """The page reads the contract: a post whose duplicate_of names another redirects
    there. The demo feeds hold no copies, so one post of a copy of the demo database
    is made a copy the way the store records one."""
    db = tmp_path / "voice.db"
    shutil.copy(built, db)
    conn = sqlite3.connect(db)
    canonical, copy = (
        r[0]
        for r in conn.execute(
            "SELECT id FROM posts WHERE duplicate_of IS NULL AND hidden = 0 AND removed_at IS NULL"
            " ORDER BY id LIMIT 2"
        )
    )
    with conn:
        conn.execute(
            "UPDATE posts SET duplicate_of = ?, duplicate_reason = 'near-duplicate 0.97'"
            " WHERE id = ?",
            [canonical, copy],
        )
    conn.close()
    response = asyncio.run(app(db).client.get(f"/posts/{copy}"))
    assert response.status_code == 302
    assert response.headers["location"] == f"/posts/{canonical}"


def test_post_page_shows_the_words_that_gave_each_topic(built: Path) -> None:
    found = rows(
        built,
        "SELECT pt.post_id, t.label, pt.evidence FROM post_topics pt"
        " JOIN topics t ON t.slug = pt.topic JOIN posts p ON p.id = pt.post_id"
        " WHERE pt.source = 'rules' AND pt.evidence IS NOT NULL AND p.duplicate_of IS NULL"
        " AND p.hidden = 0 ORDER BY pt.post_id LIMIT 1",
    )
    assert found, "a post tagged by the rules"
    post, label, evidence = found[0]
    _, body = get(app(built), f"/posts/{post}")
    words = ", ".join(f"\u201c{w}\u201d" for w in json.loads(evidence))
    assert f"{label}</a>: from words and phrases in its title and text: {words}" in html.unescape(
        body
    )


def test_topic_counts_are_each_topics_public_posts(site: Path) -> None:
    """The navigation's topic counts (all of a topic's posts less those not public)
    equal counting each topic's public posts one by one, after a copy and a takedown."""
    oracle = f"""SELECT t.slug, (SELECT count(*) FROM post_topics pt JOIN posts p
        ON p.id = pt.post_id WHERE pt.topic = t.slug AND {lookup.PUBLIC}) FROM topics t"""
    with closing(sqlite3.connect(site)) as conn:
        tagged = conn.execute(
            "SELECT post_id FROM post_topics GROUP BY post_id ORDER BY post_id LIMIT 3"
        ).fetchall()
        assert len(tagged) == 3
        conn.execute("UPDATE posts SET duplicate_of = ? WHERE id = ?", [tagged[0][0], tagged[1][0]])
        takedown = "UPDATE posts SET hidden = 1, removed_at = '2026-11-24' WHERE id = ?"
        conn.execute(takedown, tagged[2])
        conn.commit()
        counted = {r[0]: r[3] for r in conn.execute(lookup.TOPIC_COUNTS_SQL)}
        expected = dict(conn.execute(oracle).fetchall())
        every = dict(conn.execute("SELECT topic, count(*) FROM post_topics GROUP BY topic"))
    assert counted == expected
    assert sum(counted.values()) < sum(every.values())


@pytest.mark.parametrize(
    "args", ["q=council", "q=digital&topic=collaboration", "q=digital", "q=data"]
)
def test_relevance_ranks_every_match_when_there_are_fewer_than_the_bound(
    built: Path, args: str
) -> None:
    """Below selection.RANKED matches, "relevance" is FTS5's rank over every public match."""
    sel = selection.selection_from_args(dict(a.split("=") for a in args.split("&")))
    assert sel.order == "relevance"
    db = app(built).get_database("voice")
    page = asyncio.run(selection.find_posts(db, sel, limit=10))
    topic = " AND p.id IN (SELECT post_id FROM post_topics WHERE topic = ?)" if sel.topic else ""
    expected = rows(
        built,
        f"""SELECT p.id FROM posts_fts JOIN posts p ON p.id = posts_fts.rowid
        WHERE posts_fts MATCH ? AND {lookup.PUBLIC}{topic} ORDER BY posts_fts.rank LIMIT 10""",
        *([sel.q, sel.topic] if sel.topic else [sel.q]),
    )
    assert expected and [c.id for c in page.cards] == [r[0] for r in expected]
