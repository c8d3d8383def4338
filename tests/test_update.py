"""The whole cycle against a real server on 127.0.0.1 and a real SQLite file."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aggregator.errors import StoreError
from aggregator.health import explain
from aggregator.models import FeedData, ParseJob
from aggregator.parsing.parse import parse_feed
from aggregator.parsing.pool import ParsePool
from aggregator.update import FeedResult, update_feeds
from tests.support.feedserver import Drip, FeedServer, Raw, Redirect, Status, gzip_bomb

from .conftest import error_detail, registry_for, rows

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def posts_snapshot(db: Path) -> list[tuple]:
    return rows(db, "SELECT id, entry_key, title, raw_hash, published FROM posts ORDER BY id")


def run(db: Path, pool: ParsePool, *urls: str, **kw: object):
    return update_feeds(registry_for(*urls), db, due_only=False, clock=lambda: NOW, pool=pool, **kw)


@pytest.mark.parametrize(
    ("path", "count", "title"),
    [
        pytest.param("localgov-digital.rss", 1, "LocalGov Digital", id="rss2-wordpress"),
        pytest.param("philrumens.atom", 7, "LocalGov Digital rebooted", id="atom-blogger"),
        pytest.param("localgov-digital-workstreams.rdf", None, None, id="rss1-rdf"),
    ],
)
def test_each_feed_format_is_stored(
    server: FeedServer,
    db_path: Path,
    pool: ParsePool,
    path: str,
    count: int | None,
    title: str | None,
) -> None:
    result = run(db_path, pool, server.url(path))
    assert result.feeds[0].outcome == "ok", result.feeds[0]
    stored = rows(db_path, "SELECT title, region, organisation, url FROM posts")
    assert stored and all(r[1] == "South East" and r[2] == "Org 0" for r in stored)
    assert all(r[3] is None or r[3].startswith("https://") for r in stored)
    if count is not None:
        assert len(stored) == count
    if title is not None:
        assert any(title in r[0] for r in stored)


def test_not_modified_costs_no_parse_and_no_post_writes(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    url = server.url("blog.rss")
    run(db_path, pool, url)
    before = posts_snapshot(db_path)
    server.clear_requests()
    result = run(db_path, pool, url)
    assert result.feeds[0].outcome == "not_modified"
    sent = server.requests_for("blog.rss")[0].headers
    assert "if-none-match" in sent and "if-modified-since" in sent
    assert posts_snapshot(db_path) == before
    assert rows(db_path, "SELECT outcome FROM fetches ORDER BY id") == [("ok",), ("not_modified",)]


def test_identical_body_without_validators_is_not_parsed_again(
    server: FeedServer, db_path: Path, pool: ParsePool, feed_dir: Path
) -> None:
    body = (feed_dir / "blog.rss").read_bytes()
    server.route("plain.rss", Raw(body, {"Content-Type": "application/rss+xml"}))
    url = server.url("plain.rss")
    assert run(db_path, pool, url).feeds[0].outcome == "ok"
    before = posts_snapshot(db_path)
    result = run(db_path, pool, url)
    assert result.feeds[0].outcome == "unchanged"
    assert posts_snapshot(db_path) == before


def test_edited_entry_updated_in_place_and_dropped_entries_kept(
    server: FeedServer, db_path: Path, pool: ParsePool, feed_dir: Path
) -> None:
    url = server.url("blog.rss")
    run(db_path, pool, url)
    ids = dict(rows(db_path, "SELECT entry_key, id FROM posts"))
    shutil.copy(feed_dir / "blog-next-week.rss", feed_dir / "blog.rss")
    result = run(db_path, pool, url)
    assert (result.new_posts, result.updated_posts) == (1, 1)
    after = dict(rows(db_path, "SELECT entry_key, id FROM posts"))
    assert len(after) == 4  # 10 dropped out of the feed but stays in the archive
    assert all(after[k] == v for k, v in ids.items())  # ids are stable
    (title,) = rows(db_path, "SELECT title FROM posts WHERE entry_key LIKE '%p=112'")[0]
    assert title == "Weeknotes 12: a content design sprint with residents"
    hits = rows(db_path, "SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'residents'")
    assert len(hits) == 1  # the search index followed the edit


def test_search_index_is_rewritten_only_when_title_or_text_change(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    run(db_path, pool, server.url("blog.rss"))
    conn = sqlite3.connect(db_path)
    before = conn.total_changes  # counts rows written by triggers too
    conn.execute("UPDATE posts SET topics = '[\"x\"]', is_backfill = 1, hidden = 1")
    conn.execute("UPDATE posts SET title = title, text = text")  # set, but not changed
    (posts,) = conn.execute("SELECT count(*) FROM posts").fetchone()
    assert conn.total_changes - before == 2 * posts  # the posts alone, no FTS rows
    conn.execute("UPDATE posts SET title = 'Renamed' WHERE id = 1")
    (hit,) = conn.execute("SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'renamed'").fetchall()
    assert hit == (1,)
    conn.close()


def test_not_a_feed_is_an_error_and_old_posts_are_kept(
    server: FeedServer, db_path: Path, pool: ParsePool, feed_dir: Path
) -> None:
    url = server.url("blog.rss")
    run(db_path, pool, url)
    shutil.copy(feed_dir / "not-a-feed.html", feed_dir / "blog.rss")
    result = run(db_path, pool, url)
    assert result.feeds[0].error_kind == "not_a_feed"
    status, kind, error, count = rows(
        db_path, "SELECT status, error_kind, last_error, error_count FROM feeds"
    )[0]
    assert (status, kind, count) == ("error", "not_a_feed", 1)
    assert error == "the address does not give a feed"  # public: fixed words
    detail = error_detail(db_path, "%")
    assert detail is not None and "\n" not in detail and "HTML" in detail  # private
    assert len(posts_snapshot(db_path)) == 3


def test_hostile_and_broken_feeds_affect_only_themselves(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    server.route("drip.rss", Drip(b"<rss", interval_s=0.2, max_seconds=30))
    server.route("bomb.rss", gzip_bomb(50_000_000))
    server.route("missing.rss", Status(404))
    urls = [
        server.url("drip.rss"),
        server.url("bomb.rss"),
        server.url("missing.rss"),
        server.url("billion-laughs.xml"),
        server.url("philrumens.atom"),
    ]
    result = update_feeds(
        registry_for(*urls, fetch_deadline=2.0, max_body_bytes=2_000_000),
        db_path,
        due_only=False,
        clock=lambda: NOW,
        pool=pool,
    )
    kinds = {f.url.rsplit("/", 1)[1]: (f.outcome, f.error_kind) for f in result.feeds}
    assert kinds == {
        "drip.rss": ("error", "timeout"),
        "bomb.rss": ("error", "too_large"),
        "missing.rss": ("error", "http_status"),
        "billion-laughs.xml": ("error", "entities"),
        "philrumens.atom": ("ok", None),
    }
    assert rows(db_path, "SELECT count(*) FROM posts") == [(7,)]
    errors = rows(db_path, "SELECT url, last_error FROM feeds WHERE status = 'error'")
    assert len(errors) == 4 and all(e[1] and "\n" not in e[1] for e in errors)
    details = [error_detail(db_path, url) for url, _ in errors]
    assert all(d and "\n" not in d for d in details)


def test_private_addresses_refused_unless_allowed(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    url = server.url("blog.rss")
    refused = update_feeds(
        registry_for(url, allow_private_hosts=False),
        db_path,
        due_only=False,
        clock=lambda: NOW,
        pool=pool,
    )
    assert refused.feeds[0].error_kind == "blocked_address"
    assert server.requests_for("blog.rss") == []  # nothing reached the server
    allowed = run(db_path, pool, url)
    assert allowed.feeds[0].outcome == "ok"


def test_schedule_only_takes_due_feeds(server: FeedServer, db_path: Path, pool: ParsePool) -> None:
    reg = registry_for(server.url("blog.rss"))
    first = update_feeds(reg, db_path, clock=lambda: NOW, pool=pool)
    assert len(first.feeds) == 1
    (due,) = rows(db_path, "SELECT next_check_at FROM feeds")[0]
    due_at = datetime.strptime(due, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    # The blog last posted in 2016: a dormant blog is checked about once a day.
    assert timedelta(hours=20) <= due_at - NOW <= timedelta(hours=24)
    soon = update_feeds(reg, db_path, clock=lambda: due_at - timedelta(minutes=1), pool=pool)
    assert soon.feeds == ()
    later = update_feeds(reg, db_path, clock=lambda: due_at, pool=pool)
    assert len(later.feeds) == 1


HANG_SECONDS = 60.0  # a deadline only a hang reaches


def test_at_most_two_connections_per_host(
    server: FeedServer, db_path: Path, pool: ParsePool, feed_dir: Path
) -> None:
    body = (feed_dir / "blog.rss").read_bytes()
    lock = threading.Lock()
    in_flight = [0]
    peak = [0]
    pair = threading.Event()  # two requests have been in flight at once

    def held(request: object) -> Raw:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            if in_flight[0] == 2:
                pair.set()
        pair.wait(HANG_SECONDS)  # the first answer waits until a second request is in flight
        time.sleep(0.3)  # a window for a third request to show, if one were let through
        with lock:
            in_flight[0] -= 1
        return Raw(body, {"Content-Type": "application/rss+xml"})

    paths = [f"slow-{i}.rss" for i in range(6)]
    for p in paths:
        server.route(p, held)
    timeouts = {"read_timeout": HANG_SECONDS, "fetch_deadline": HANG_SECONDS}
    result = update_feeds(
        registry_for(*(server.url(p) for p in paths), **timeouts),
        db_path,
        due_only=False,
        clock=lambda: NOW,
        pool=pool,
    )
    assert result.count("ok") == 6
    assert peak[0] == 2


def test_stop_abandons_fetches_in_flight_and_keeps_finished_writes(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    dripping = threading.Event()
    saved = threading.Event()
    stop = threading.Event()

    def drip(request: object) -> Drip:
        dripping.set()
        return Drip(b"<rss", interval_s=0.2, max_seconds=2 * HANG_SECONDS)

    def saved_one(result: FeedResult) -> None:
        if result.url.endswith("/philrumens.atom"):
            saved.set()

    def stop_mid_drip() -> None:  # once one feed is written and the other is in flight
        if dripping.wait(HANG_SECONDS) and saved.wait(HANG_SECONDS):
            stop.set()

    server.route("drip.rss", drip)
    threading.Thread(target=stop_mid_drip, daemon=True).start()
    started = time.monotonic()
    result = update_feeds(
        registry_for(
            server.url("drip.rss"),
            server.url("philrumens.atom"),
            read_timeout=HANG_SECONDS,
            fetch_deadline=HANG_SECONDS,
        ),
        db_path,
        due_only=False,
        clock=lambda: NOW,
        pool=pool,
        stop=stop,
        on_result=saved_one,
    )
    assert stop.is_set()
    # Returned on the stop, not when the fetch deadline cut the drip off.
    assert time.monotonic() - started < HANG_SECONDS
    outcomes = {f.url.rsplit("/", 1)[1]: f.outcome for f in result.feeds}
    assert outcomes == {"drip.rss": "skipped", "philrumens.atom": "ok"}
    assert rows(db_path, "SELECT count(*) FROM fetches") == [(1,)]  # nothing half-written
    assert rows(db_path, "SELECT count(*) FROM posts") == [(7,)]


def parse_or_exhaust_memory(job: ParseJob, vocabulary: object = None) -> FeedData:
    """A parse target that behaves like a decompression or entity bomb for one URL."""
    if "bomb" in job.url:
        hoard = [bytearray(64 * 1024 * 1024) for _ in range(64)]  # 4 GB, past the limit
        del hoard
    return parse_feed(job)


def parse_or_hit_a_bug(job: ParseJob, vocabulary: object = None) -> FeedData:
    """A parse target with a bug in Voice for one URL (not a fault of that feed)."""
    if "buggy" in job.url:
        {}["a key Voice forgot"]
    return parse_feed(job)


def test_a_bug_in_a_parse_worker_is_internal_and_logged_not_blamed_on_the_feed(
    server: FeedServer, db_path: Path, feed_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copy(feed_dir / "philrumens.atom", feed_dir / "buggy.atom")
    urls = [server.url("buggy.atom"), server.url("blog.rss")]
    with ParsePool(workers=1, target=parse_or_hit_a_bug) as buggy:
        result = run(db_path, buggy, *urls)
    kinds = {f.url.rsplit("/", 1)[1]: (f.outcome, f.error_kind) for f in result.feeds}
    assert kinds == {"buggy.atom": ("error", "internal"), "blog.rss": ("ok", None)}
    (explanation,) = rows(db_path, "SELECT explanation FROM feeds WHERE url LIKE '%buggy%'")[0]
    assert explanation == explain("error", "internal").explanation
    assert "parse_or_hit_a_bug" in caplog.text  # the worker's traceback is in the log


def test_a_document_that_exhausts_its_worker_affects_only_its_feed(
    server: FeedServer, db_path: Path, feed_dir: Path
) -> None:
    shutil.copy(feed_dir / "philrumens.atom", feed_dir / "bomb.atom")
    urls = [server.url("bomb.atom"), server.url("philrumens.atom"), server.url("blog.rss")]
    with ParsePool(workers=2, memory_mb=256, target=parse_or_exhaust_memory) as small:
        result = run(db_path, small, *urls)
        after = run(db_path, small, server.url("localgov-digital.rss"))  # pool still serves
    kinds = {f.url.rsplit("/", 1)[1]: (f.outcome, f.error_kind) for f in result.feeds}
    assert kinds == {
        "bomb.atom": ("error", "worker_limit"),
        "philrumens.atom": ("ok", None),
        "blog.rss": ("ok", None),
    }
    assert after.feeds[0].outcome == "ok"
    assert error_detail(db_path, "%bomb.atom") == "parsing needed more than 256 MB of memory"


def test_not_modified_answers_reuse_connections(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    urls = [
        server.url("blog.rss"),
        server.url("philrumens.atom"),
        server.url("localgov-digital.rss"),
    ]
    run(db_path, pool, *urls)
    before = server.connections_accepted
    again = update_feeds(
        registry_for(*urls, concurrency=1), db_path, due_only=False, clock=lambda: NOW, pool=pool
    )
    assert again.count("not_modified") == 3
    assert server.connections_accepted - before == 1  # one keep-alive connection for all three


def test_an_unusable_host_name_is_recorded_not_raised(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    server.route("to-bad-host.rss", Redirect("http://xn--a.com/feed"))
    urls = ["http://a..b/feed", server.url("to-bad-host.rss"), server.url("blog.rss")]
    result = run(db_path, pool, *urls)
    assert [(f.outcome, f.error_kind) for f in result.feeds] == [
        ("error", "bad_scheme"),
        ("error", "bad_scheme"),
        ("ok", None),
    ]


def test_a_bug_while_checking_one_feed_is_recorded_and_the_cycle_goes_on(
    db_path: Path, pool: ParsePool, feed_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = (feed_dir / "blog.rss").read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/broken":
            raise RuntimeError("a bug in a transport")
        return httpx.Response(200, content=body, headers={"Content-Type": "application/rss+xml"})

    result = update_feeds(
        registry_for("https://a.example/broken", "https://b.example/feed"),
        db_path,
        due_only=False,
        clock=lambda: NOW,
        pool=pool,
        transport=httpx.MockTransport(handler),
    )
    assert [(f.outcome, f.error_kind) for f in result.feeds] == [
        ("error", "internal"),
        ("ok", None),
    ]
    assert "a bug in a transport" in caplog.text  # the traceback stays in the log
    (error,) = rows(db_path, "SELECT last_error FROM feeds WHERE url LIKE '%broken'")[0]
    assert error == "Voice had a problem of its own"
    assert "internal error" in (error_detail(db_path, "%broken") or "")


def test_a_failed_write_rolls_back_the_whole_feed_and_is_a_store_error(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    run(db_path, pool, server.url("blog.rss"))  # creates the schema
    conn = sqlite3.connect(db_path)
    conn.execute(
        "CREATE TRIGGER refuse AFTER INSERT ON fetches BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="disk full"):
        run(db_path, pool, server.url("blog.rss"), server.url("philrumens.atom"))
    assert rows(db_path, "SELECT count(*) FROM posts WHERE feed_id = 2") == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM fetches") == [(1,)]


def test_posts_carry_the_blogs_default_topics_and_a_date_for_every_field(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    base = registry_for(server.url("blog.rss"))
    tagged = replace(base, feeds=(replace(base.feeds[0], topics=("user-research",)),))
    update_feeds(tagged, db_path, due_only=False, clock=lambda: NOW, pool=pool)
    stored = rows(db_path, "SELECT topics, published, updated FROM posts")
    assert {r[0] for r in stored} == {'["user-research"]'}
    assert all(updated == published for _, published, updated in stored)  # RSS gives no updated
    retagged = replace(base, feeds=(replace(base.feeds[0], topics=("open-data",)),))
    update_feeds(retagged, db_path, due_only=False, clock=lambda: NOW, pool=pool)
    assert {r[0] for r in rows(db_path, "SELECT topics FROM posts")} == {'["open-data"]'}


def test_requests_to_one_host_keep_the_minimum_gap(
    server: FeedServer, db_path: Path, pool: ParsePool, feed_dir: Path
) -> None:
    body = (feed_dir / "blog.rss").read_bytes()
    starts: list[float] = []

    def timed(request: object) -> Raw:
        starts.append(time.monotonic())
        return Raw(body, {"Content-Type": "application/rss+xml"})

    paths = [f"gap-{i}.rss" for i in range(4)]
    for p in paths:
        server.route(p, timed)
    gap = 0.5
    result = update_feeds(
        registry_for(*(server.url(p) for p in paths), host_gap_seconds=gap),
        db_path,
        due_only=False,
        clock=lambda: NOW,
        pool=pool,
    )
    assert result.count("ok") == 4
    gaps = [b - a for a, b in zip(sorted(starts), sorted(starts)[1:], strict=False)]
    # Starts are spaced by `gap`; arrivals at the server can each be late by a
    # scheduling delay, so allow half a gap. Without the gap two would arrive at once.
    assert min(gaps) >= gap / 2


def test_posts_stored_under_older_rules_are_cleaned_again_once(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    """Posts fetched before images were limited to the blog's host lose remote images."""
    run(db_path, pool, server.url("philrumens.atom"))
    conn = sqlite3.connect(db_path)
    conn.execute("ATTACH DATABASE ? AS private", [str(db_path.with_name("voice-private.db"))])
    old_html = '<p>Hi</p><img src="https://tracker.example/pixel.gif" alt="chart">'
    (post_id,) = conn.execute("SELECT min(id) FROM posts").fetchone()
    conn.execute(
        "UPDATE posts SET content_html = ?, title = 'Title four \u202egnp.exe' WHERE id = ?",
        [old_html, post_id],
    )
    conn.execute("DELETE FROM private.upkeep")  # as a database from before the rules
    conn.commit()
    run(db_path, pool, server.url("philrumens.atom"))
    html, title = conn.execute(
        "SELECT content_html, title FROM posts WHERE id = ?", [post_id]
    ).fetchone()
    assert "<img" not in html and 'href="https://tracker.example/pixel.gif"' in html
    assert title == "Title four gnp.exe"
    (version,) = conn.execute("SELECT version FROM private.upkeep").fetchone()
    conn.execute("UPDATE posts SET content_html = ? WHERE id = ?", [old_html, post_id])
    conn.commit()
    run(db_path, pool, server.url("philrumens.atom"))  # done once: not repeated every cycle
    (html,) = conn.execute("SELECT content_html FROM posts WHERE id = ?", [post_id]).fetchone()
    conn.close()
    assert html == old_html and version


def test_a_first_fetch_numbers_posts_oldest_first(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    """The river shows posts by first-seen order (id): a feed's newest post, listed
    first, must still get the highest id of its fetch, and an undated one the lowest."""
    items = "".join(
        f"<item><title>Post {n}</title><link>https://blog.example/{n}</link>"
        f"<guid>https://blog.example/{n}</guid>{pub}"
        f"<description>Text of post number {n} about services.</description></item>"
        for n, pub in (
            (3, "<pubDate>Wed, 03 Jan 2024 09:00:00 GMT</pubDate>"),
            (1, "<pubDate>Mon, 01 Jan 2024 09:00:00 GMT</pubDate>"),
            (2, "<pubDate>Tue, 02 Jan 2024 09:00:00 GMT</pubDate>"),
            (0, ""),
        )
    )
    body = f'<rss version="2.0"><channel><title>B</title>{items}</channel></rss>'.encode()
    server.route("order.rss", Raw(body, {"Content-Type": "application/rss+xml"}))
    run(db_path, pool, server.url("order.rss"))
    titles = [r[0] for r in rows(db_path, "SELECT title FROM posts ORDER BY id")]
    assert titles == ["Post 0", "Post 1", "Post 2", "Post 3"]
