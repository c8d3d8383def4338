"""`voice try` and `voice add` as a newcomer runs them, against a blog served on 127.0.0.1."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator import storage
from aggregator.cli import cli
from aggregator.models import FeedSource
from aggregator.registry.feeds import load_registry
from aggregator.storage import feeds as stored_feeds
from tests.support.feedserver import CONTENT_TYPES, FeedServer, Raw

from .conftest import DATA, ROOT

PAGES = DATA / "discovery"
REGISTRY = """\
# Voice member registry: one entry per blog.
settings:
  host_gap_seconds: 0.0

feeds:
  # The network's own blog
  - url: https://localgov.digital/feed/
    region: National  # a comment on a value

  - url: https://philrumens.blogspot.com/feeds/posts/default
    region: South East
"""


@pytest.fixture
def blog(tmp_path: Path) -> Iterator[FeedServer]:
    """A WordPress blog: home page, main feed, comments feed."""
    with FeedServer(tmp_path) as server:
        for path, name in {
            "/": "wordpress.html",
            "/feed/": "full.rss",
            "/comments/feed/": "comments.rss",
        }.items():
            file = PAGES / name
            server.route(path, Raw(file.read_bytes(), {"Content-Type": CONTENT_TYPES[file.suffix]}))
        yield server


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "conf" / "feeds.yaml"
    path.parent.mkdir()
    path.write_text(REGISTRY, encoding="utf-8")
    (path.parent / "topics.yaml").write_bytes((ROOT / "topics.yaml").read_bytes())
    return path


def voice(*args: str | Path, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_try_previews_the_blog_from_its_home_page(blog: FeedServer, config: Path) -> None:
    code, out, err = voice("try", blog.url("/"), "--config", config, "--allow-private-hosts")
    assert code == 0, err
    assert f"Feed:       {blog.url('/feed/')}" in out
    assert "The page advertises it as the blog's feed" in out
    assert "Blog:       Council Digital Notes (WordPress)" in out
    assert "Entries:    4 entries, full text" in out
    assert "Latest:     21 November 2016   LocalGov Digital rebooted" in out
    assert "Service standard" in out and "Open data" in out  # labels from topics.yaml
    assert "Problem" not in out
    assert not list(config.parent.glob("*.db")) and not (config.parent / "db").exists()


def test_try_json_is_one_object_and_exits_0_even_with_a_problem(
    blog: FeedServer, config: Path
) -> None:
    code, out, _ = voice("try", blog.url("/"), "--config", config, "--json")
    assert code == 0
    trial = json.loads(out)
    assert trial["ok"] is False and trial["feed_url"] is None
    assert trial["problem"] == (
        "That address is on a private network (127.0.0.1); Voice only fetches public web addresses."
    )
    assert blog.requests == []  # the guard refused before connecting
    code, out, _ = voice(
        "try", blog.url("/"), "--config", config, "--json", "--allow-private-hosts"
    )
    trial = json.loads(out)
    assert code == 0 and trial["ok"] is True and trial["feed_url"] == blog.url("/feed/")
    assert [item["title"] for item in trial["latest"]][0] == "LocalGov Digital rebooted"


def test_try_says_what_is_wrong_and_exits_4(blog: FeedServer, config: Path) -> None:
    code, out, _ = voice(
        "try", blog.url("/no-such-page"), "--config", config, "--allow-private-hosts"
    )
    assert code == 4
    assert "Problem:    That address answered 404 Not Found." in out
    assert "What to do: Check the address for typing mistakes" in out
    code, out, _ = voice("try", blog.url("/"), "--config", config)
    assert code == 4 and "private network (127.0.0.1)" in out


def test_try_without_a_registry_uses_the_default_limits(blog: FeedServer, tmp_path: Path) -> None:
    code, out, _ = voice(
        "try", blog.url("/feed/"), "--config", tmp_path / "none.yaml", "--allow-private-hosts"
    )
    assert code == 0 and "The address you gave is itself a feed." in out


def test_add_appends_the_blog_and_keeps_the_files_comments(blog: FeedServer, config: Path) -> None:
    code, out, err = voice(
        "add",
        blog.url("/"),
        "--region",
        "south east",
        "--organisation",
        "Anytown Council",
        "--topics",
        "Open-Data,user-research",
        "--yes",
        "--config",
        config,
        "--allow-private-hosts",
    )
    assert code == 0, err
    assert f"Added Council Digital Notes to {config}" in out
    text = config.read_text(encoding="utf-8")
    assert text.startswith(REGISTRY.rstrip("\n"))  # every comment and blank line kept
    registry = load_registry(config)
    added = registry.feeds[-1]
    assert added == FeedSource(
        url=blog.url("/feed/"),
        region="South East",
        title="Council Digital Notes",
        site_url="https://notes.example.gov.uk/",
        organisation="Anytown Council",
        topics=("open-data", "user-research"),
    )
    assert voice("check", "--config", config)[0] == 0


def test_add_refuses_a_blog_already_registered_under_another_address(
    blog: FeedServer, config: Path
) -> None:
    config.write_text(REGISTRY + f"\n  - url: {blog.url('/feed')}\n    region: London\n")
    before = config.read_text()
    for address in (blog.url("/"), blog.url("/feed/"), blog.url("/feed/").replace("http", "HTTP")):
        code, _, err = voice(
            "add",
            address,
            "--region",
            "London",
            "--yes",
            "--config",
            config,
            "--allow-private-hosts",
        )
        assert code == 1
        assert err == f"Error: this blog is already in {config} as {blog.url('/feed')} (London)\n"
    assert config.read_text() == before


def test_add_refuses_the_new_address_of_a_blog_registered_under_its_old_one(
    blog: FeedServer, config: Path, tmp_path: Path
) -> None:
    old = blog.url("/old-blog/feed.rss")
    config.write_text(REGISTRY + f"\n  - url: {old}\n    region: Wales\n")
    db = tmp_path / "voice.db"
    conn = storage.connect(db)
    stored_feeds.sync_feeds(conn, load_registry(config).feeds, "2024-01-01T00:00:00Z")
    conn.execute(
        "INSERT INTO redirects (feed_id, target, first_seen_at, last_seen_at) "
        "SELECT id, ?, '2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z' FROM feeds WHERE url = ?",
        [blog.url("/feed/"), old],
    )
    conn.close()
    code, _, err = voice(
        "add",
        blog.url("/"),
        "--region",
        "Wales",
        "--yes",
        "--config",
        config,
        "--db",
        db,
        "--allow-private-hosts",
    )
    assert code == 1 and f"already in {config} as {old} (Wales)" in err


def test_add_suggests_the_region_a_near_miss_meant_before_fetching(
    blog: FeedServer, config: Path
) -> None:
    code, _, err = voice(
        "add",
        blog.url("/"),
        "--region",
        "Sout East",
        "--yes",
        "--config",
        config,
        "--allow-private-hosts",
    )
    assert code == 1
    assert (
        err == "Error: --region 'Sout East' is not a region Voice knows: did you mean South East?\n"
    )
    assert blog.requests == []


def test_add_asks_first_and_will_not_add_without_a_terminal_or_yes(
    blog: FeedServer, config: Path
) -> None:
    before = config.read_text()
    code, out, err = voice(
        "add",
        blog.url("/"),
        "--region",
        "London",
        "--config",
        config,
        "--allow-private-hosts",
        stdin="y\n",
    )
    assert code == 1
    assert "To be added to" in out and f"url: {blog.url('/feed/')}" in out
    assert err == "Error: not added: confirm on a terminal, or pass --yes\n"
    assert config.read_text() == before


def test_add_does_not_add_a_blog_without_a_feed(blog: FeedServer, config: Path) -> None:
    before = config.read_text()
    code, out, err = voice(
        "add",
        blog.url("/missing/"),
        "--region",
        "London",
        "--yes",
        "--config",
        config,
        "--allow-private-hosts",
    )
    assert code == 4 and "Problem:" in out and "Not added" in err
    assert config.read_text() == before


def test_add_on_a_terminal_asks_and_adds_on_yes(blog: FeedServer, config: Path) -> None:
    """Through a real terminal (a pty), as a person runs it."""
    leader, follower = pty.openpty()
    args = [sys.executable, "-m", "aggregator", "add", blog.url("/"), "--region", "Wales"]
    args += ["--config", str(config), "--allow-private-hosts"]
    with subprocess.Popen(
        args, stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    ) as process:
        os.close(follower)
        os.write(leader, b"y\n")
        out, err = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 0, err
    assert b"Add this blog to" in out and b"Added Council Digital Notes" in out
    assert load_registry(config).feeds[-1].region == "Wales"
