"""The `voice` command as a user runs it: exit codes and one-line messages."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from aggregator.cli import cli
from tests.support.feedserver import Drip, FeedServer, Redirect, Status, gzip_bomb

from .conftest import DATA, ROOT, free_port, write_registry


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_accepts_a_valid_registry() -> None:
    code, out, _ = invoke("check", "--config", str(DATA / "config" / "valid.yaml"))
    assert code == 0 and "2 feeds, all valid" in out


def test_check_lists_every_problem_and_exits_non_zero() -> None:
    code, _, err = invoke("check", "--config", str(DATA / "config" / "bad-region.yaml"))
    assert code == 1
    assert "bad-region.yaml:5: feeds[1] (https://b.example/feed/): region:" in err
    assert "Traceback" not in err


def test_check_names_default_topics_missing_from_topics_yaml(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "feeds:\n"
        "  - url: https://a.example/feed/\n"
        "    region: London\n"
        "    topics: [open-data, Democracy, opendata]\n"
    )
    code, _, err = invoke("check", "--config", str(config))
    assert code == 1
    assert "feeds.yaml:4: feeds[0] (https://a.example/feed/): topics: 'opendata' not in" in err
    assert "'Democracy'" not in err  # slugs are matched without regard to case, as tagging does
    config.write_text(config.read_text().replace(", opendata", ""))
    code, out, _ = invoke("check", "--config", str(config))
    assert code == 0 and "1 feeds, all valid" in out


def test_check_lists_problems_of_topics_yaml_and_feeds_yaml_together(tmp_path: Path) -> None:
    (tmp_path / "topics.yaml").write_text("threshold: high\ntopics: 3\n")
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n  - url: https://a.example/feed/\n    region: Mars\n")
    code, _, err = invoke("check", "--config", str(config))
    assert code == 1
    assert "topics.yaml" in err and "threshold" in err
    assert "feeds.yaml:3: feeds[0] (https://a.example/feed/): region:" in err
    assert "Traceback" not in err


def test_check_missing_file_is_one_line() -> None:
    code, _, err = invoke("check", "--config", "/nonexistent/feeds.yaml")
    assert code == 1 and err.count("\n") == 1


def test_fetch_ingests_local_feeds_and_second_run_writes_no_posts(
    server: FeedServer, tmp_path: Path
) -> None:
    config = write_registry(
        tmp_path / "feeds.yaml", server.url("philrumens.atom"), server.url("localgov-digital.rss")
    )
    db = tmp_path / "voice.db"
    args = ["fetch", "--allow-private-hosts", "--config", str(config), "--db", str(db)]
    code, out, _ = invoke(*args)
    assert code == 0
    assert out.strip() == "2 feeds checked, 0 not modified, 8 new posts, 0 updated, 0 failed"
    code, out, _ = invoke(*args, "--all")
    assert code == 0
    assert "2 not modified, 0 new posts, 0 updated" in out


def test_fetch_exits_zero_when_a_feed_fails(server: FeedServer, tmp_path: Path) -> None:
    config = write_registry(tmp_path / "feeds.yaml", server.url("nowhere.rss"))
    code, out, _ = invoke(
        "fetch",
        "-v",
        "--allow-private-hosts",
        "--config",
        str(config),
        "--db",
        str(tmp_path / "voice.db"),
    )
    assert code == 0
    assert "1 failed" in out and "http_status: server answered 404" in out


def test_fetch_bad_config_exits_1(tmp_path: Path) -> None:
    code, _, err = invoke(
        "fetch",
        "--config",
        str(DATA / "config" / "missing-url.yaml"),
        "--db",
        str(tmp_path / "voice.db"),
    )
    assert code == 1 and err.startswith("Error: ") and "url is required" in err


def test_fetch_bad_database_exits_3(tmp_path: Path) -> None:
    config = write_registry(tmp_path / "feeds.yaml", "https://example.org/feed/")
    not_a_db = tmp_path / "voice.db"
    not_a_db.write_bytes(b"this is not a database" * 100)
    code, _, err = invoke("fetch", "--config", str(config), "--db", str(not_a_db))
    assert code == 3 and "cannot open the database" in err and "Traceback" not in err
    code, _, err = invoke("fetch", "--config", str(config), "--db", "/nonexistent/dir/v.db")
    assert code == 3 and "does not exist" in err


def test_status_shows_feeds_with_their_errors(server: FeedServer, tmp_path: Path) -> None:
    config = write_registry(
        tmp_path / "feeds.yaml", server.url("philrumens.atom"), server.url("gone.rss")
    )
    db = str(tmp_path / "voice.db")
    invoke("fetch", "--allow-private-hosts", "--config", str(config), "--db", db)
    code, out, _ = invoke("status", "--config", str(config), "--db", db)
    assert code == 0
    assert "http_status" in out and "ok" in out and "error" in out


def test_python_dash_m_runs_the_same_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "aggregator", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    assert "fetch" in out and "serve" in out and "run" in out


def test_demo_once_fetches_the_bundled_feeds(tmp_path: Path) -> None:
    db = tmp_path / "demo" / "voice.db"
    code, out, _ = invoke("demo", "--once", "--db", str(db), "--feeds-port", str(free_port()))
    assert code == 0, out
    assert "0 failed" in out
    count = sqlite3.connect(db).execute("SELECT count(DISTINCT feed_id) FROM posts").fetchone()
    assert count == (3,)
    # every demo feed's posts are where they belong: none is taken for a copy (issue 12:
    # LocalGov Digital's article was once a same-url "copy" of another feed's section)
    public = sqlite3.connect(db).execute(
        "SELECT f.title, count(p.id) FROM feeds f LEFT JOIN posts p"
        " ON p.feed_id = f.id AND p.duplicate_of IS NULL GROUP BY f.id ORDER BY f.title"
    )
    assert dict(public.fetchall()) == {
        "LocalGov Digital": 1,
        "LocalGov Digital workstreams": 3,
        "Phil Rumens": 7,
    }


def test_status_problems_lists_only_feeds_needing_attention(
    server: FeedServer, tmp_path: Path
) -> None:
    server.route("walled.rss", Status(403))
    config = write_registry(
        tmp_path / "feeds.yaml", server.url("philrumens.atom"), server.url("walled.rss")
    )
    db = str(tmp_path / "voice.db")
    invoke("fetch", "--allow-private-hosts", "--config", str(config), "--db", db)
    code, out, _ = invoke("status", "--problems", "--config", str(config), "--db", db)
    assert code == 0
    assert "walled.rss" in out and "philrumens.atom" not in out
    assert "allow the Voice user agent" in " ".join(out.split())


def test_remove_takes_a_blog_down_with_an_audit_row(server: FeedServer, tmp_path: Path) -> None:
    keep, gone = server.url("localgov-digital.rss"), server.url("philrumens.atom")
    config = write_registry(tmp_path / "feeds.yaml", keep, gone)
    db = tmp_path / "voice.db"
    invoke("fetch", "--allow-private-hosts", "--config", str(config), "--db", str(db))
    code, out, _ = invoke(
        "remove",
        gone,
        "--reason",
        "member asked",
        "--by",
        "admin",
        "--config",
        str(config),
        "--db",
        str(db),
    )
    assert code == 0 and "7 posts removed from public pages" in out
    assert gone not in config.read_text() and keep in config.read_text()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*), sum(hidden) FROM posts").fetchone() == (8, 7)
    assert conn.execute(  # tombstones: nothing of the posts is left in the public file
        "SELECT count(*) FROM posts WHERE removed_at IS NOT NULL AND title = '' AND text = ''"
        " AND url IS NULL AND content_html IS NULL AND author IS NULL"
    ).fetchone() == (7,)
    assert [tuple(r) for r in conn.execute("SELECT posts_hidden FROM removals")] == [(7,)]
    assert "reason" not in [r[1] for r in conn.execute("PRAGMA table_info(removals)")]
    conn.execute("ATTACH DATABASE ? AS private", [str(tmp_path / "voice-private.db")])
    assert conn.execute(
        "SELECT target, reason, removed_by, posts_removed FROM private.removals"
    ).fetchall() == [(gone, "member asked", "admin", 7)]
    assert conn.execute("SELECT count(*) FROM private.removed_posts").fetchone() == (7,)
    code, _, err = invoke(
        "remove",
        "https://nowhere.example/feed",
        "--reason",
        "x",
        "--config",
        str(config),
        "--db",
        str(db),
    )
    assert code == 1 and "no feed in" in err


def test_redirects_apply_moves_the_feed_without_duplicating_posts(
    server: FeedServer, tmp_path: Path
) -> None:
    server.route("old.rss", Redirect("/blog.rss", 301))
    old, new = server.url("old.rss"), server.url("blog.rss")
    config = write_registry(tmp_path / "feeds.yaml", old)
    db = tmp_path / "voice.db"
    conn = sqlite3.connect(db)
    args = ["--config", str(config), "--db", str(db)]
    invoke("fetch", "--all", "--allow-private-hosts", *args)
    code, out, _ = invoke("redirects", *args)
    assert code == 0 and f"{old} -> {new}: pending, seen 1 times" in out
    # Seen again over two days: confirmed.
    conn.execute("UPDATE redirects SET first_seen_at = '2000-01-01T00:00:00Z', times_seen = 2")
    conn.commit()
    invoke("fetch", "--all", "--allow-private-hosts", *args)
    code, out, _ = invoke("redirects", "--apply", *args)
    assert code == 0 and "confirmed" in out and "updated" in out
    assert new in config.read_text() and old not in config.read_text()
    invoke("fetch", "--all", "--allow-private-hosts", *args)
    assert conn.execute("SELECT url FROM feeds").fetchall() == [(new,)]
    assert conn.execute("SELECT count(*) FROM posts").fetchone() == (3,)
    conn.close()


def test_status_problems_explains_every_hostile_feed(server: FeedServer, tmp_path: Path) -> None:
    server.route("drip.rss", Drip(b"<rss", interval_s=0.2, max_seconds=10))
    server.route("walled.rss", Status(403))
    server.route("missing.rss", Status(404))
    server.route("gone.rss", Status(410))
    server.route("busy.rss", Status(503, headers={"Retry-After": "600"}))
    server.route("bomb.rss", gzip_bomb(20_000_000))
    hostile = {
        "drip.rss": "took too long",
        "walled.rss": "allow the Voice user agent",
        "missing.rss": "not at this address",
        "gone.rss": "removed for good",
        "busy.rss": "temporarily unavailable",
        "bomb.rss": "larger than Voice accepts",
        "not-a-feed.html": "not a feed",
        "billion-laughs.xml": "declares XML entities",
    }
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "settings:\n  host_gap_seconds: 0\n  fetch_deadline: 2\n  max_body_bytes: 2000000\n"
        "feeds:\n"
        + "".join(f"  - url: {server.url(p)}\n    region: London\n" for p in hostile)
        + f"  - url: {server.url('blog.rss')}\n    region: London\n"
    )
    db = str(tmp_path / "voice.db")
    invoke("fetch", "--allow-private-hosts", "--config", str(config), "--db", db)
    code, out, _ = invoke("status", "--problems", "--config", str(config), "--db", db)
    flat = " ".join(out.split())
    assert code == 0 and "blog.rss" not in flat
    for path, words in hostile.items():
        assert path in flat and words in flat, path


def test_status_on_an_80_column_terminal_cuts_nothing(server: FeedServer, tmp_path: Path) -> None:
    from aggregator import storage
    from aggregator.cli.archive import status_blocks
    from aggregator.storage.feeds import feed_rows

    urls = [server.url("philrumens.atom"), server.url("a-feed-with-a-rather-long-name/gone.rss")]
    config = write_registry(tmp_path / "feeds.yaml", *urls)
    db = tmp_path / "voice.db"
    invoke("fetch", "--allow-private-hosts", "--config", str(config), "--db", str(db))
    conn = storage.connect(db)
    rows = feed_rows(conn, problems_only=False)
    conn.close()
    lines = [click.unstyle(line) for line in status_blocks(rows, 80)]
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert not any("…" in line for line in lines)
    for url in urls:  # each feed's whole URL on a line of its own
        assert f"    {url}" in lines
    assert not any("T0" in line or "T1" in line or "T2" in line for line in lines)  # no ISO
    assert any("last success never" in line for line in lines)  # the failing feed
    assert any(" UTC; next check " in line for line in lines)


def test_commands_that_read_the_archive_refuse_a_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    for command in ("status", "retag", "dedupe", "redirects"):
        code, _, err = invoke(command, "--db", str(missing))
        assert code == 3, command
        assert "no database yet" in err, command
        assert not missing.exists(), command  # nothing created


def test_dedupe_needs_no_flag() -> None:
    code, out, err = invoke("dedupe", "--db", str(ROOT / "db" / "does-not-exist.db"))
    assert code == 3 and "Missing option" not in err


def test_demo_serves_the_feeds_beside_the_registry_it_is_given(tmp_path: Path) -> None:
    demo = tmp_path / "my-demo"
    (demo / "feeds").mkdir(parents=True)
    shutil.copy(ROOT / "demo" / "feeds" / "philrumens.atom", demo / "feeds" / "mine.atom")
    (demo / "feeds.yaml").write_text(
        "settings:\n  host_gap_seconds: 0\nfeeds:\n"
        '  - url: "{base}/mine.atom"\n    region: Wales\n',
        encoding="utf-8",
    )
    db = tmp_path / "db" / "voice.db"
    code, out, err = invoke(
        "demo", "--once", "--config", str(demo / "feeds.yaml"), "--db", str(db),
        "--feeds-port", "0",
    )  # fmt: skip
    assert code == 0, err
    assert f"demo feeds from {demo / 'feeds'}" in out
    assert "1 feeds checked" in out and "0 failed" in out


def test_demo_checks_its_port_before_fetching_anything(tmp_path: Path) -> None:
    db = tmp_path / "demo" / "voice.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = invoke("demo", "--db", str(db), "--port", str(port), "--feeds-port", "0")
    assert code == 1
    assert f"cannot serve on 127.0.0.1:{port}" in err and "--port" in err
    assert "open http" not in out
    assert not db.exists()  # nothing fetched


def test_check_reads_a_demo_registry_and_names_the_file_it_was_given(tmp_path: Path) -> None:
    code, out, _ = invoke("check", "--config", str(ROOT / "demo" / "feeds.yaml"))
    assert code == 0 and "demo registry" in out
    broken = tmp_path / "sub" / "feeds.yaml"
    broken.parent.mkdir()
    broken.write_text('feeds:\n  - url: "{base}/a.rss"\n    region: Narnia\n', encoding="utf-8")
    code, _, err = invoke("check", "--config", str(broken))
    assert code == 1
    assert err.startswith(f"{broken}:3:")  # the path as given, with the line


def _remove(config: Path, db: Path, *args: str) -> tuple[int, str, str]:
    return invoke("remove", *args, "--reason", "member asked", "--config", str(config),
                  "--db", str(db))  # fmt: skip


def test_remove_matches_the_feed_however_its_url_is_written(
    server: FeedServer, tmp_path: Path
) -> None:
    url = server.url("philrumens.atom")
    config = write_registry(tmp_path / "feeds.yaml", url)
    db = tmp_path / "voice.db"
    invoke("fetch", "--allow-private-hosts", "--config", str(config), "--db", str(db))
    spelled = "HTTPS://" + url.removeprefix("http://") + "/"  # scheme, case, slash
    code, out, err = _remove(config, db, spelled)
    assert code == 0, err
    assert "7 posts removed" in out and url not in config.read_text()
    public = sqlite3.connect(db).execute("SELECT count(*) FROM posts WHERE title != ''")
    assert public.fetchone() == (0,)


def test_remove_takes_one_post_down_by_url_or_id_and_purge_forgets_it(
    server: FeedServer, tmp_path: Path
) -> None:
    config = write_registry(tmp_path / "feeds.yaml", server.url("philrumens.atom"))
    db = tmp_path / "voice.db"
    invoke("fetch", "--allow-private-hosts", "--config", str(config), "--db", str(db))
    conn = sqlite3.connect(db)
    (first_id, first_url), (second_id, _) = conn.execute(
        "SELECT id, url FROM posts ORDER BY id LIMIT 2"
    ).fetchall()
    code, out, _ = _remove(config, db, first_url)
    assert code == 0 and "1 post(s) removed" in out
    code, out, _ = _remove(config, db, str(second_id), "--purge")
    assert code == 0 and "private copy of 1 posts deleted" in out
    assert "feeds.yaml" not in out  # a post is not a registry entry
    assert server.url("philrumens.atom") in config.read_text()  # the blog stays
    titles = {r[0]: r[1] for r in conn.execute("SELECT id, title FROM posts")}
    assert titles[first_id] == "" and titles[second_id] == "" and len(titles) == 7
    conn.execute("ATTACH DATABASE ? AS private", [str(tmp_path / "voice-private.db")])
    kept = [r[0] for r in conn.execute("SELECT post_id FROM private.removed_posts")]
    assert kept == [first_id]  # the purged one is gone from the private file too
    conn.close()
    server.clear_requests()
    (tmp_path / "voice.db").touch()
    invoke("fetch", "--all", "--allow-private-hosts", "--config", str(config), "--db", str(db))
    again = sqlite3.connect(db).execute("SELECT count(*), sum(title = '') FROM posts")
    assert again.fetchone() == (7, 2)  # the feed still lists them; they never come back
