"""A feed's life: health for members, failing and gone, back catalogue, the river."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.parsing.pool import ParsePool
from aggregator.update import update_feeds
from tests.support.feedserver import FeedServer, Raw, Redirect, Status

from .conftest import registry_for, rows

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def cycle(db: Path, pool: ParsePool, *urls: str, at: datetime = NOW, **settings: object):
    return update_feeds(
        registry_for(*urls, **settings), db, due_only=False, clock=lambda: at, pool=pool
    )


def test_a_403_is_explained_to_the_member(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    server.route("walled.rss", Status(403, b"<html>Access denied</html>"))
    cycle(db_path, pool, server.url("walled.rss"))
    status, kind, http, explanation = rows(
        db_path, "SELECT status, error_kind, last_http_status, explanation FROM feeds"
    )[0]
    assert (status, kind, http) == ("error", "http_status", 403)
    assert explanation == (
        "Your server answered 403 Forbidden: it may be blocking automated readers; "
        "ask your web team to allow the Voice user agent."
    )


def test_failures_become_failing_after_the_configured_days_and_recover(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    url = server.url("blog.rss")
    server.route("blog.rss", Status(404))
    for day in range(0, 4):
        cycle(db_path, pool, url, at=NOW + timedelta(days=day), failing_after_days=3)
    status, since, count = rows(db_path, "SELECT status, failing_since, error_count FROM feeds")[0]
    assert (status, since, count) == ("failing", "2026-11-23T12:00:00Z", 4)
    server.route("blog.rss", None)
    cycle(db_path, pool, url, at=NOW + timedelta(days=5), failing_after_days=3)
    assert rows(db_path, "SELECT status, failing_since, error_count, explanation FROM feeds") == [
        ("ok", None, 0, "Working: Voice reads this feed.")
    ]


def test_gone_feeds_are_not_polled_and_keep_their_posts(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    url = server.url("blog.rss")
    cycle(db_path, pool, url)
    server.route("blog.rss", Status(410))
    cycle(db_path, pool, url, at=NOW + timedelta(hours=2))
    assert rows(db_path, "SELECT status, next_check_at FROM feeds") == [("gone", None)]
    assert rows(db_path, "SELECT count(*) FROM posts") == [(3,)]
    server.clear_requests()
    later = update_feeds(
        registry_for(url), db_path, clock=lambda: NOW + timedelta(days=3), pool=pool
    )
    assert later.feeds == () and server.requests_for("blog.rss") == []


def test_first_fetch_is_back_catalogue_but_for_the_newest_posts(
    server: FeedServer, db_path: Path, pool: ParsePool, feed_dir: Path
) -> None:
    url = server.url("philrumens.atom")
    cycle(db_path, pool, url, backfill_keep=2)
    assert rows(db_path, "SELECT count(*), sum(is_backfill) FROM posts") == [(7, 5)]
    river = rows(db_path, "SELECT title FROM river ORDER BY published DESC")
    assert [r[0] for r in river] == [
        "LocalGov Digital rebooted",
        "Listening outside of the echo chamber",
    ]
    # Posts that arrive later are news, not back catalogue.
    (feed_dir / "philrumens.atom").write_text(
        (feed_dir / "philrumens.atom")
        .read_text()
        .replace(
            "<entry>",
            "<entry><id>tag:new-post</id><title>A new post</title>"
            "<published>2016-11-28T09:00:00Z</published><updated>2016-11-28T09:00:00Z</updated>"
            "<content type='html'>New.</content></entry><entry>",
            1,
        )
    )
    cycle(db_path, pool, url, at=NOW + timedelta(hours=2), backfill_keep=2)
    assert rows(db_path, "SELECT is_backfill FROM posts WHERE title = 'A new post'") == [(0,)]
    newest = rows(db_path, "SELECT title FROM river ORDER BY published DESC LIMIT 1")
    assert newest == [("A new post",)]


def test_permanent_redirect_confirmed_after_three_sightings_over_two_days(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    server.route("old.rss", Redirect("/blog.rss", 301))
    old = server.url("old.rss")
    for hours in (0, 24, 47):
        cycle(db_path, pool, old, at=NOW + timedelta(hours=hours))
    assert rows(db_path, "SELECT times_seen, confirmed_at FROM redirects") == [(3, None)]
    cycle(db_path, pool, old, at=NOW + timedelta(hours=49))
    (target, times, confirmed) = rows(
        db_path, "SELECT target, times_seen, confirmed_at FROM redirects"
    )[0]
    assert (target, times, confirmed) == (server.url("blog.rss"), 4, "2026-11-25T13:00:00Z")
    assert rows(db_path, "SELECT url, pending_redirect FROM feeds") == [(old, target)]
    assert rows(db_path, "SELECT count(*) FROM posts") == [(3,)]  # fetched from the new place


def test_temporary_redirects_are_never_recorded(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    server.route("moved-for-now.rss", Redirect("/blog.rss", 302))
    for hours in (0, 24, 49):
        cycle(db_path, pool, server.url("moved-for-now.rss"), at=NOW + timedelta(hours=hours))
    assert rows(db_path, "SELECT count(*) FROM redirects") == [(0,)]
    assert rows(db_path, "SELECT pending_redirect FROM feeds") == [(None,)]


def test_a_redirect_that_stops_is_forgotten_before_confirmation(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    server.route("flaky.rss", Redirect("/blog.rss", 308))
    cycle(db_path, pool, server.url("flaky.rss"))
    assert rows(db_path, "SELECT pending_redirect FROM feeds") == [(server.url("blog.rss"),)]
    server.route("flaky.rss", Raw((server.directory / "blog.rss").read_bytes()))
    cycle(db_path, pool, server.url("flaky.rss"), at=NOW + timedelta(hours=2))
    assert rows(db_path, "SELECT count(*) FROM redirects") == [(0,)]
    assert rows(db_path, "SELECT pending_redirect FROM feeds") == [(None,)]


def next_check(db: Path) -> datetime:
    (value,) = rows(db, "SELECT next_check_at FROM feeds")[0]
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def test_retry_after_on_429_is_honoured(server: FeedServer, db_path: Path, pool: ParsePool) -> None:
    server.route("busy.rss", Status(429, headers={"Retry-After": "7200"}))
    cycle(db_path, pool, server.url("busy.rss"))
    assert next_check(db_path) - NOW >= timedelta(hours=2)


def test_cache_control_max_age_is_a_lower_bound(
    server: FeedServer, db_path: Path, pool: ParsePool, feed_dir: Path
) -> None:
    body = (feed_dir / "blog.rss").read_bytes()
    server.route("cached.rss", Raw(body, {"Cache-Control": "max-age=43200"}))
    cycle(db_path, pool, server.url("cached.rss"), interval_minutes=30)
    assert next_check(db_path) - NOW >= timedelta(hours=12)


def test_a_blog_that_changes_every_guid_keeps_one_copy_of_each_post(
    server: FeedServer, db_path: Path, pool: ParsePool, feed_dir: Path
) -> None:
    url = server.url("blog.rss")
    cycle(db_path, pool, url)
    before = dict(rows(db_path, "SELECT url, id FROM posts"))
    moved = (feed_dir / "blog.rss").read_text()
    moved = moved.replace("https://team.example.gov.uk/?p=", "tag:new-platform,2016:post-")
    moved = moved.replace("https://team.example.gov.uk/2016", "http://www.team.example.gov.uk/2016")
    (feed_dir / "blog.rss").write_text(moved)
    result = cycle(db_path, pool, url, at=NOW + timedelta(hours=2))
    assert (result.new_posts, result.updated_posts) == (0, 3)
    after = rows(db_path, "SELECT id, guid, url FROM posts ORDER BY id")
    assert len(after) == 3
    assert [r[0] for r in after] == sorted(before.values())  # same rows, new identities
    assert all(r[1].startswith("tag:new-platform") for r in after)


def test_a_guid_reused_by_another_feed_never_overwrites_across_feeds(
    server: FeedServer, db_path: Path, pool: ParsePool, feed_dir: Path
) -> None:
    (feed_dir / "copy.rss").write_text(
        (feed_dir / "blog.rss").read_text().replace("Weeknotes", "Someone else's notes")
    )
    cycle(db_path, pool, server.url("blog.rss"), server.url("copy.rss"))
    titles = rows(db_path, "SELECT feed_id, title FROM posts ORDER BY feed_id, id")
    assert len(titles) == 6
    assert {t for f, t in titles if f == 1} == {
        "Weeknotes 12: content design sprint",
        "Weeknotes 11: user research on parking permits",
        "Weeknotes 10: starting a discovery",
    }


def test_a_blog_moving_region_takes_its_posts_with_it(
    server: FeedServer, db_path: Path, pool: ParsePool
) -> None:
    from dataclasses import replace

    base = registry_for(server.url("blog.rss"))
    update_feeds(base, db_path, due_only=False, clock=lambda: NOW, pool=pool)
    moved = replace(base, feeds=(replace(base.feeds[0], region="Wales", organisation="Cyngor"),))
    update_feeds(moved, db_path, due_only=False, clock=lambda: NOW, pool=pool)
    assert rows(db_path, "SELECT DISTINCT region, organisation FROM posts") == [("Wales", "Cyngor")]
