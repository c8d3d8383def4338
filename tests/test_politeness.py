"""How Voice treats publishers' servers, against a real server on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.parsing.pool import ParsePool
from aggregator.update import update_feeds
from tests.support.feedserver import FeedServer, Raw, RequestRecord, Status

from .conftest import registry_for, rows

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def cycle(db: Path, pool: ParsePool, *urls: str, at: datetime = NOW):
    return update_feeds(registry_for(*urls), db, due_only=False, clock=lambda: at, pool=pool)


def test_validators_are_sent_on_every_request(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    url = server.url("blog.rss")
    for hours in range(3):
        cycle(db_path, pool, url, at=NOW + timedelta(hours=hours))
    first, *later = server.requests_for("blog.rss")
    assert "if-none-match" not in first.headers
    assert len(later) == 2
    assert all("if-none-match" in r.headers and "if-modified-since" in r.headers for r in later)


def test_a_304_keeps_everything(server: FeedServer, db_path: Path, pool: ParsePool) -> None:
    url = server.url("blog.rss")
    cycle(db_path, pool, url)
    feed_before = rows(db_path, "SELECT etag, last_modified, body_hash, title FROM feeds")
    posts_before = rows(db_path, "SELECT * FROM posts ORDER BY id")
    result = cycle(db_path, pool, url, at=NOW + timedelta(hours=1))
    assert result.feeds[0].outcome == "not_modified"
    assert rows(db_path, "SELECT etag, last_modified, body_hash, title FROM feeds") == feed_before
    assert rows(db_path, "SELECT * FROM posts ORDER BY id") == posts_before


def test_a_changed_etag_with_an_identical_body_is_unchanged(
    server: FeedServer, db_path: Path, pool: ParsePool, feed_dir: Path
) -> None:
    body = (feed_dir / "blog.rss").read_bytes()
    served = iter(range(100))

    def fresh_etag_every_time(request: RequestRecord) -> Raw:
        return Raw(body, {"Content-Type": "application/rss+xml", "ETag": f'"v{next(served)}"'})

    server.route("blog.rss", fresh_etag_every_time)
    url = server.url("blog.rss")
    cycle(db_path, pool, url)
    posts_before = rows(db_path, "SELECT * FROM posts ORDER BY id")
    result = cycle(db_path, pool, url, at=NOW + timedelta(hours=1))
    assert result.feeds[0].outcome == "unchanged"
    assert rows(db_path, "SELECT * FROM posts ORDER BY id") == posts_before
    assert rows(db_path, "SELECT etag FROM feeds") == [('"v1"',)]  # the new validator is kept


def test_last_modified_is_refreshed_on_a_304(
    server: FeedServer, db_path: Path, pool: ParsePool, feed_dir: Path
) -> None:
    body = (feed_dir / "blog.rss").read_bytes()
    first = {
        "Content-Type": "application/rss+xml",
        "Last-Modified": "Mon, 21 Nov 2016 09:00:00 GMT",
    }

    def answer(request: RequestRecord) -> Raw | Status:
        if "if-modified-since" in request.headers:
            return Status(304, headers={"Last-Modified": "Tue, 22 Nov 2016 09:00:00 GMT"})
        return Raw(body, first)

    server.route("blog.rss", answer)
    url = server.url("blog.rss")
    cycle(db_path, pool, url)
    assert cycle(db_path, pool, url, at=NOW + timedelta(hours=1)).feeds[0].outcome == "not_modified"
    assert rows(db_path, "SELECT last_modified FROM feeds") == [("Tue, 22 Nov 2016 09:00:00 GMT",)]


def test_a_new_feed_is_fetched_once(server: FeedServer, db_path: Path, pool: ParsePool) -> None:
    cycle(db_path, pool, server.url("blog.rss"))
    server.clear_requests()
    cycle(db_path, pool, server.url("blog.rss"), server.url("philrumens.atom"))
    assert [r.method for r in server.requests_for("philrumens.atom")] == ["GET"]


def test_a_restart_neither_stampedes_nor_forgets_a_back_off(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    server.route("down.rss", Status(503))
    urls = (server.url("blog.rss"), server.url("down.rss"))
    reg = registry_for(*urls)
    update_feeds(reg, db_path, clock=lambda: NOW, pool=pool)
    update_feeds(reg, db_path, clock=lambda: NOW + timedelta(minutes=20), pool=pool)
    server.clear_requests()
    # A "restart" is just a new process reading the same database: nothing is due yet.
    restarted = update_feeds(reg, db_path, clock=lambda: NOW + timedelta(minutes=25), pool=pool)
    assert restarted.feeds == () and server.requests == []
    (count, due) = rows(
        db_path, "SELECT error_count, next_check_at FROM feeds WHERE url LIKE '%down%'"
    )[0]
    assert count >= 1 and due > "2026-11-23T12:25:00Z"
