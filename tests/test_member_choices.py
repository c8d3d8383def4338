"""A member's choices for their blog (issue 11): excerpts only, paused, verified.

Through the real cycle: the feed is served on 127.0.0.1 and stored in a real
SQLite file; `voice status --feed` and the blog page read what the cycle wrote.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner
from datasette.app import Datasette
from sqlite_utils.migrations import Migrations

from aggregator.analysis.excerpt import MAX_CHARS, excerpt_of, shown_in
from aggregator.cli import cli
from aggregator.errors import ConfigError
from aggregator.health import PAUSED_EXPLANATION
from aggregator.models import Registry
from aggregator.parsing.pool import ParsePool
from aggregator.registry.site import Site, metadata_for
from aggregator.registry.topics import load_topics
from aggregator.storage import connect, mark_verified, schema, set_verification_token
from aggregator.storage.connection import attach_private
from aggregator.storage.feeds import sync_feeds
from aggregator.update import update_feeds
from tests.support.feedserver import FeedServer, Handler, Raw, Status

from .conftest import DATA, ROOT, registry_for, rows

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FEED = "long-posts.rss"
# Words only in the later paragraphs of the two posts: never public for an excerpt blog.
FULL_ONLY = ["zeppelinmarmalade", "quokkaparliament"]
# Tagging's evidence for these posts that is only in the later paragraphs.
HIDDEN_EVIDENCE = {"prototype", "crews", "user research"}
TOKEN = "lgv-3q2X9vT0pZk8mW4rY7sB"
VOCABULARY = load_topics(ROOT / "topics.yaml")


@pytest.fixture
def feed_url(server: FeedServer, feed_dir: Path) -> str:
    shutil.copy(DATA / "choices" / FEED, feed_dir / FEED)
    return server.url(FEED)


def registry(url: str, **choices: object) -> Registry:
    base = registry_for(url)
    return replace(base, feeds=(replace(base.feeds[0], title="Bins and benches", **choices),))


def cycle(
    db: Path,
    pool: ParsePool,
    url: str,
    *,
    due_only: bool = False,
    tag: bool = False,
    **choices: object,
):
    return update_feeds(
        registry(url, **choices),
        db,
        due_only=due_only,
        clock=lambda: NOW,
        pool=pool,
        vocabulary=VOCABULARY if tag else None,
    )


def evidence(db: Path) -> dict[str, set[str]]:
    """Each post's title -> its topics' evidence words and phrases."""
    found: dict[str, set[str]] = {}
    for title, words in rows(
        db,
        "SELECT title, evidence FROM posts JOIN post_topics ON post_id = posts.id"
        " WHERE evidence IS NOT NULL",
    ):
        found.setdefault(title, set()).update(json.loads(words))
    return found


def evidence_not_in_text(db: Path) -> list[tuple[str, str]]:
    """(title, word) for each evidence word or phrase its post's stored text does not show."""
    texts = dict(rows(db, "SELECT title, text FROM posts"))
    return sorted(
        (title, word)
        for title, words in evidence(db).items()
        for word in words
        if not re.search(
            r"(?<![^\W_])" + r"[\W_]+".join(map(re.escape, word.split())) + r"(?![^\W_])",
            texts[title],
            re.IGNORECASE,
        )
    )


def full_text_found(db: Path) -> list[str]:
    """Words of the full posts still reachable: through search, or anywhere in the file."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    found = [
        f"search: {word}"
        for word in FULL_ONLY
        if conn.execute("SELECT count(*) FROM posts_fts WHERE posts_fts MATCH ?", [word])
        .fetchone()[0]
    ]
    conn.close()
    data = db.read_bytes()
    return found + [f"bytes: {word}" for word in FULL_ONLY if word.encode() in data]


def test_blogs_stored_before_0008_read_full_included_not_paused_not_verified(
    db_path: Path,
) -> None:
    old = sqlite3.connect(db_path)
    attach_private(old, db_path)  # step 0005 moves rows into the private file
    steps = Migrations(schema.MIGRATION_SET)
    for name, step in schema.STEPS[: schema.MIGRATIONS.index("0008_member_choices")]:
        steps(name=name)(step)
    steps.apply(sqlite_utils.Database(old))
    old.execute("INSERT INTO feeds (url, added_at) VALUES ('https://f.example/feed', 'x')")
    old.commit()
    old.close()
    conn = connect(db_path)
    found = conn.execute("SELECT display, research, paused, verified_at FROM feeds").fetchall()
    conn.close()
    assert [tuple(r) for r in found] == [("full", 1, 0, None)]


# -- the excerpt itself ------------------------------------------------------

LONG = "".join(f"<p>{'word ' * 40}paragraph{i}.</p>" for i in range(6))


@pytest.mark.parametrize(
    ("summary", "content", "html", "text"),
    [
        pytest.param(
            "<p>A <a href='https://x.example/'>short</a> summary.</p>",
            LONG,
            "<p>A <a href='https://x.example/'>short</a> summary.</p>",
            "A short summary.",
            id="a-short-summary-is-the-excerpt",
        ),
        pytest.param(
            None, "<p>A short post.</p><p>Two paragraphs.</p>",
            "<p>A short post.</p><p>Two paragraphs.</p>", "A short post.\nTwo paragraphs.",
            id="a-short-post-is-its-own-excerpt",
        ),
        pytest.param(None, None, None, "", id="nothing-at-all"),
        pytest.param(
            "<p>" + "x" * 700 + "</p>", None, "<p>" + "x" * 599 + "…</p>", "x" * 599 + "…",
            id="one-long-word-is-cut-where-it-must",
        ),
    ],
)  # fmt: skip
def test_the_excerpt_of_a_post(
    summary: str | None, content: str | None, html: str | None, text: str
) -> None:
    cut = excerpt_of(summary, content)
    assert (cut.html, cut.text) == (html, text)


def test_a_long_post_is_cut_at_a_word_within_the_limit_and_cutting_again_changes_nothing() -> None:
    cut = excerpt_of(None, LONG)
    lines = cut.text.split("\n")
    assert 2 <= len(lines) < 6  # whole first paragraphs, then one cut
    assert sum(map(len, lines)) <= MAX_CHARS
    assert lines[-1].endswith("word…") and "paragraph5" not in cut.text
    assert cut.html is not None and "<p>" in cut.html and "<a" not in cut.html
    assert excerpt_of(cut.html, None) == cut


@pytest.mark.parametrize(
    ("word", "shown"),
    [
        pytest.param("bins", True, id="a-word-in-any-case"),
        pytest.param("open data", True, id="a-phrase-across-a-hyphen"),
        pytest.param("user research", True, id="a-phrase-across-a-line"),
        pytest.param("bin", False, id="part-of-a-word-is-not-the-word"),
        pytest.param("data open", False, id="a-phrase-in-another-order"),
        pytest.param("prototype", False, id="a-word-the-text-lacks"),
    ],
)
def test_evidence_is_kept_when_the_excerpt_shows_it_whole(word: str, shown: bool) -> None:
    text = "Bins and Open-Data:\nwhat user\nresearch found…"
    assert shown_in([word], text) == ((word,) if shown else ())


# -- display: excerpt -------------------------------------------------------


def test_an_excerpt_blog_never_stores_the_full_text(
    feed_url: str, db_path: Path, pool: ParsePool
) -> None:
    result = cycle(db_path, pool, feed_url, display="excerpt")
    assert result.feeds[0].outcome == "ok" and result.new_posts == 2
    stored = dict(
        (r[0], r[1:])
        for r in rows(db_path, "SELECT title, summary_html, content_html, text FROM posts")
    )
    summary, content, text = stored["Rebuilding bin collections with residents"]
    assert content is None
    assert text == "How we rebuilt bin collections with the people who use them."
    summary, content, text = stored["Benches, data and a parliament of owls"]
    assert content is None and text.endswith("…") and summary.count("<p>") == 3
    assert sum(len(line) for line in text.split("\n")) <= MAX_CHARS
    assert full_text_found(db_path) == []


def test_switching_to_excerpts_cuts_the_stored_posts_at_once(
    feed_url: str, db_path: Path, pool: ParsePool
) -> None:
    cycle(db_path, pool, feed_url)
    assert len(full_text_found(db_path)) == 2 * len(FULL_ONLY)  # in search and in the file
    conn = connect(db_path)
    sync_feeds(conn, registry(feed_url, display="excerpt").feeds, "2026-11-23T13:00:00Z")
    conn.close()
    assert full_text_found(db_path) == []
    assert rows(db_path, "SELECT count(*) FROM posts WHERE content_html IS NOT NULL") == [(0,)]
    stored = rows(db_path, "SELECT count(*) FROM posts_public")
    assert stored == [(2,)]  # cut, not lost


def test_an_excerpt_blog_shows_no_evidence_from_the_hidden_text(
    feed_url: str, db_path: Path, pool: ParsePool
) -> None:
    cycle(db_path, pool, feed_url, tag=True, display="excerpt")
    assert evidence_not_in_text(db_path) == []
    shown = set().union(*evidence(db_path).values())
    assert shown and not shown & HIDDEN_EVIDENCE
    full = db_path.with_name("full.db")
    cycle(full, pool, feed_url, tag=True)
    topics = "SELECT post_id, topic FROM post_topics ORDER BY 1, 2"
    assert rows(db_path, topics) == rows(full, topics)  # a topic is a label, not the text


def test_switching_to_excerpts_cuts_the_evidence_too(
    feed_url: str, db_path: Path, pool: ParsePool
) -> None:
    cycle(db_path, pool, feed_url, tag=True)
    topics = rows(db_path, "SELECT count(*) FROM post_topics")
    before = set().union(*evidence(db_path).values())
    assert before >= HIDDEN_EVIDENCE  # the full text's evidence reaches the later paragraphs
    conn = connect(db_path)
    sync_feeds(conn, registry(feed_url, display="excerpt").feeds, "2026-11-23T13:00:00Z")
    conn.close()
    assert evidence_not_in_text(db_path) == []
    after = set().union(*evidence(db_path).values())
    assert after and after < before and not after & HIDDEN_EVIDENCE
    assert rows(db_path, "SELECT count(*) FROM post_topics") == topics  # labels stay


def test_switching_back_to_full_text_stores_it_at_the_next_fetch(
    feed_url: str, db_path: Path, pool: ParsePool
) -> None:
    cycle(db_path, pool, feed_url, display="excerpt")
    result = cycle(db_path, pool, feed_url)  # the same document; the server would say 304
    assert result.feeds[0].outcome == "ok" and result.updated_posts == 2
    assert set(full_text_found(db_path)) >= {f"search: {word}" for word in FULL_ONLY}
    assert rows(db_path, "SELECT count(*) FROM posts WHERE content_html IS NOT NULL") == [(1,)]


# -- paused ------------------------------------------------------------------


def test_a_paused_blog_is_not_fetched_says_why_and_keeps_its_posts(
    feed_url: str, db_path: Path, pool: ParsePool, server: FeedServer
) -> None:
    cycle(db_path, pool, feed_url)
    server.clear_requests()
    result = cycle(db_path, pool, feed_url, paused=True)
    assert result.feeds == () and server.requests_for(FEED) == []
    assert rows(db_path, "SELECT paused, explanation FROM feeds") == [(1, PAUSED_EXPLANATION)]
    assert rows(db_path, "SELECT count(*) FROM posts_public") == [(2,)]
    with pytest.raises(ConfigError, match="paused by its member"):
        update_feeds(registry(feed_url, paused=True), db_path, feed_url=feed_url, pool=pool)
    resumed = cycle(db_path, pool, feed_url, due_only=True)  # due at once, not at its old time
    assert [f.outcome for f in resumed.feeds] == ["not_modified"]
    assert rows(db_path, "SELECT paused, explanation FROM feeds") == [
        (0, "Working: Voice reads this feed.")
    ]


# -- verification ------------------------------------------------------------


def verified(db: Path) -> list[tuple]:
    conn = connect(db)
    try:
        return conn.execute(
            "SELECT f.verified_at, v.verified_at FROM feeds f"
            " JOIN private.verifications v ON v.feed_url = f.url"
        ).fetchall()
    finally:
        conn.close()


def test_the_token_in_a_fetched_feed_verifies_the_blog(
    feed_url: str, feed_dir: Path, db_path: Path, pool: ParsePool
) -> None:
    conn = connect(db_path)
    set_verification_token(conn, feed_url, TOKEN)
    conn.close()
    cycle(db_path, pool, feed_url)
    assert [tuple(r) for r in verified(db_path)] == [(None, None)]  # not in the feed yet
    feed = feed_dir / FEED
    pasted = f'&lt;meta name="localgov-voice" content="{TOKEN}"&gt;&lt;p&gt;How we'
    feed.write_text(feed.read_text().replace("&lt;p&gt;How we", pasted, 1))
    cycle(db_path, pool, feed_url)
    at = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [tuple(r) for r in verified(db_path)] == [(at, at)]
    conn = connect(db_path)
    assert mark_verified(conn, feed_url, "2027-01-01T00:00:00Z") is False  # the first time stays
    conn.close()


HOME = "/bins/"
AT = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


def home_page(head: str = "", body: str = "") -> Raw:
    page = f"<!doctype html><html><head><title>Bins</title>{head}</head><body>{body}</body></html>"
    return Raw(page.encode(), {"Content-Type": "text/html; charset=utf-8"})


HOME_PAGES = {
    "the meta tag": (home_page(f'<meta name="localgov-voice" content="{TOKEN}">'), True),
    "the meta tag, any order, quotes and case": (
        home_page(f"<META CONTENT='{TOKEN}' Name=LocalGov-Voice>"),
        True,
    ),
    "the token in a reader's comment": (
        home_page(body=f'<div class="comment"><p>Try this: {TOKEN}</p></div>'),
        False,
    ),
    "a meta tag pasted into a reader's comment": (
        home_page(body=f'<p><meta name="localgov-voice" content="{TOKEN}"></p>'),
        False,
    ),
    "another meta tag's content": (
        home_page(f'<meta name="description" content="{TOKEN}">'),
        False,
    ),
    "no home page (500)": (Status(500), False),
}


@pytest.mark.parametrize("case", list(HOME_PAGES))
def test_the_next_fetch_looks_for_the_meta_tag_on_the_home_page(
    feed_url: str, server: FeedServer, db_path: Path, pool: ParsePool, case: str
) -> None:
    page, verifies = HOME_PAGES[case]
    server.route(HOME, page)
    conn = connect(db_path)
    set_verification_token(conn, feed_url, TOKEN)
    conn.close()
    result = cycle(db_path, pool, feed_url, site_url=server.url(HOME))
    assert [(f.outcome, f.error_kind) for f in result.feeds] == [("ok", None)]
    assert len(server.requests_for(HOME)) == 1
    assert [tuple(r) for r in verified(db_path)] == [(AT, AT) if verifies else (None, None)]
    health = rows(db_path, "SELECT status, error_count, explanation FROM feeds")
    assert health == [("ok", 0, "Working: Voice reads this feed.")]  # whatever the home page did


def test_without_a_site_url_the_home_page_is_the_feeds_own_link(
    feed_url: str, feed_dir: Path, server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    feed = feed_dir / FEED
    link = "<link>https://bins.example/</link>"
    feed.write_text(feed.read_text().replace(link, f"<link>{server.url(HOME)}</link>", 1))
    page: Handler = home_page()
    server.route(HOME, lambda request: page)
    conn = connect(db_path)
    set_verification_token(conn, feed_url, TOKEN)
    conn.close()
    cycle(db_path, pool, feed_url)
    assert [tuple(r) for r in verified(db_path)] == [(None, None)]
    page = home_page(f'<meta name="localgov-voice" content="{TOKEN}">')
    result = cycle(db_path, pool, feed_url)  # the feed itself has not changed: 304
    assert [f.outcome for f in result.feeds] == ["not_modified"]
    assert [tuple(r) for r in verified(db_path)] == [(AT, AT)]
    server.clear_requests()
    cycle(db_path, pool, feed_url)
    assert server.requests_for(HOME) == []  # verified: no more home page fetches


def test_a_token_found_before_the_blog_joined_verifies_it_when_it_joins(db_path: Path) -> None:
    url = "https://joining.example/feed"
    conn = connect(db_path)
    set_verification_token(conn, url, TOKEN)
    assert mark_verified(conn, url, "2026-11-20T10:00:00Z") is True
    sync_feeds(conn, registry(url).feeds, "2026-11-23T12:00:00Z")
    assert conn.execute("SELECT verified_at FROM feeds").fetchall()[0][0] == "2026-11-20T10:00:00Z"
    assert mark_verified(conn, "https://never-issued.example/feed", "2026-11-23T12:00:00Z") is False
    conn.close()


@pytest.mark.parametrize("token", ["", "short", " " * 20, "x" * 15, f" {TOKEN}"])
def test_a_token_that_could_match_by_chance_is_refused(db_path: Path, token: str) -> None:
    conn = connect(db_path)
    with pytest.raises(ConfigError, match="at least 16"):
        set_verification_token(conn, "https://x.example/feed", token)
    conn.close()


# -- what people see ---------------------------------------------------------


def write_config(path: Path, url: str, *extra: str) -> Path:
    lines = ["settings:", "  host_gap_seconds: 0", "feeds:", f"  - url: {url}"]
    lines += ["    region: South East", "    title: Bins and benches"]
    lines += [f"    {line}" for line in extra]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def voice(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_voice_status_feed_shows_one_feed_in_full(feed_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "feeds.yaml", feed_url, "display: excerpt", "research: false")
    args = ["--config", str(config), "--db", str(tmp_path / "voice.db")]
    voice("fetch", "--allow-private-hosts", *args)
    shown = voice("status", "--feed", feed_url, *args).splitlines()
    assert shown[0] == "Bins and benches"
    for line in [
        f"URL: {feed_url}",
        "Website: https://bins.example/",
        "Region: South East",
        "Status: ok",
        "Explanation: Working: Voice reads this feed.",
        "Last error: none",
        "Posts: 2",
        "Display: excerpts only",
        "Research data: left out",
        "Paused: no",
        "Verified: no",
    ]:
        assert line in shown
    assert any(line.startswith("Last success: ") and "UTC" in line for line in shown)
    missing = voice("status", "--feed", "https://nobody.example/feed", *args, code=1)
    assert missing == "Error: https://nobody.example/feed: not in the registry\n"


def blog_page(db: Path, slug: str) -> str:
    ds = Datasette(
        [str(db)],
        metadata=metadata_for(Site(ROOT), "voice"),
        plugins_dir=str(ROOT / "plugins"),
        template_dir=str(ROOT / "templates"),
        static_mounts=[("voice-static", str(ROOT / "static"))],
    )

    async def go() -> str:
        response = await ds.client.get(f"/blogs/{slug}")
        assert response.status_code == 200
        return response.text

    return asyncio.run(go())


def test_the_blog_page_says_verified_and_paused(feed_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "feeds.yaml", feed_url)
    db = tmp_path / "voice.db"
    args = ["--config", str(config), "--db", str(db)]
    voice("fetch", "--allow-private-hosts", *args)
    page = blog_page(db, "bins-and-benches")
    assert "Verified" not in page and "paused" not in page.lower()
    conn = connect(db)
    set_verification_token(conn, feed_url, TOKEN)
    mark_verified(conn, feed_url, (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    conn.close()
    write_config(config, feed_url, "paused: true")
    voice("fetch", "--allow-private-hosts", *args)
    page = blog_page(db, "bins-and-benches")
    assert "<dt>Verified</dt>" in page and "The author confirmed this blog is theirs" in page
    assert "21 November 2026" in page
    assert "<dt>Paused</dt>" in page and "Paused by its member" in page
    assert "Rebuilding bin collections" in page  # its posts stay
