"""Crash safety: kill -9 the fetcher mid-cycle, and two writers at once.

The fetcher runs as a real `python -m aggregator fetch` subprocess in its own
session, so killing its process group also kills its parse workers. The feeds
are generated here at run time (40 blogs of 30 posts with a few KB of HTML
each, so writing a feed takes long enough for kills to land inside it) and
served from files by a FeedServer on 127.0.0.1. Between rounds some blogs
publish a new version: one new post, the oldest post dropped and every title
revised, so a half-written feed would show as a mix of revisions. The server
holds chosen answers, so a kill or an admin command lands while the fetcher
is mid-cycle because of an event, never because of how fast this machine is.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.feedserver import FeedServer, RequestRecord

from .conftest import ROOT, write_registry

BLOGS = 40
POSTS = 30
PARAGRAPHS = 8
WORDS = [
    "council", "digital", "service", "housing", "data", "open", "team", "blog", "user",
    "research", "platform", "local", "government", "agile", "delivery", "design", "content",
    "accessibility", "procurement", "cloud", "budget",
]  # fmt: skip
KILL_ROUNDS = 9
FETCH_TIMEOUT_SECONDS = 60.0  # a deadline only a hang reaches


# -- generated blogs --------------------------------------------------------------------


@dataclass
class Blog:
    """One generated feed file, and what Voice should hold for it.

    `expected` is guid -> title as stored after the versions Voice has been
    seen to save; `current` is what the file serves now.
    """

    number: int
    path: Path
    url: str
    newest: int = POSTS
    revision: int = 0
    current: dict[str, str] = field(default_factory=dict)
    current_etag: str | None = None
    expected: dict[str, str] = field(default_factory=dict)
    expected_etag: str | None = None

    def guid(self, post: int) -> str:
        return f"blog{self.number}-post{post}"

    def publish(self, bodies: dict[tuple[int, int], str]) -> None:
        """Write the file for (newest, revision): the newest POSTS posts, newest first."""
        items, titles = [], {}
        for post in range(self.newest, self.newest - POSTS, -1):
            guid, title = self.guid(post), f"Blog {self.number} post {post} rev {self.revision}"
            titles[guid] = title
            day = 1 + post % 28
            items.append(
                f"<item><title>{title}</title>"
                f"<link>https://blog{self.number}.example/posts/{post}</link>"
                f'<guid isPermaLink="false">{guid}</guid>'
                f"<pubDate>Mon, {day:02d} Jan 2024 10:{post % 60:02d}:00 GMT</pubDate>"
                f"<description><![CDATA[{_body(bodies, self.number, post)}]]></description>"
                "</item>"
            )
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Blog {self.number}</title><link>https://blog{self.number}.example/</link>"
            + "".join(items)
            + "</channel></rss>\n"
        ).encode()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(xml)
        tmp.replace(self.path)  # the server never serves half a file
        self.current = titles
        self.current_etag = '"' + hashlib.sha1(xml).hexdigest() + '"'

    def revise(self, bodies: dict[tuple[int, int], str]) -> None:
        """A new version: one new post, the oldest dropped, every title revised."""
        self.newest += 1
        self.revision += 1
        self.publish(bodies)

    def saved(self) -> tuple[dict[str, str], str | None]:
        """What Voice holds once it has saved the version served now (posts are never deleted)."""
        return {**self.expected, **self.current}, self.current_etag


def _body(bodies: dict[tuple[int, int], str], blog: int, post: int) -> str:
    """A few KB of HTML per post, the same on every version, unique to the post."""
    if (blog, post) not in bodies:
        rng = random.Random(blog * 10_000 + post)
        bodies[(blog, post)] = "".join(
            "<p>"
            + " ".join(rng.choice(WORDS) for _ in range(80))
            + f' <a href="https://blog{blog}.example/ref/{post}/{i}">more</a></p>'
            for i in range(PARAGRAPHS)
        )
    return bodies[(blog, post)]


@pytest.fixture
def blogs(tmp_path: Path) -> Iterator[tuple[FeedServer, list[Blog], dict[tuple[int, int], str]]]:
    site = tmp_path / "site"
    site.mkdir()
    bodies: dict[tuple[int, int], str] = {}
    with FeedServer(site) as server:
        made = [Blog(n, site / f"blog{n}.rss", server.url(f"blog{n}.rss")) for n in range(BLOGS)]
        for blog in made:
            blog.publish(bodies)
        yield server, made, bodies


# -- the fetcher as a child process -------------------------------------------------------


def write_patient_registry(path: Path, urls: list[str]) -> Path:
    """feeds.yaml for the blogs, where an answer the server holds never times out."""
    config = write_registry(path, *urls)
    wait = FETCH_TIMEOUT_SECONDS
    timeouts = f"settings:\n  read_timeout: {wait}\n  fetch_deadline: {wait}\n"
    config.write_text(config.read_text().replace("settings:\n", timeouts))
    return config


def start_fetch(config: Path, db: Path, log: Path) -> subprocess.Popen[bytes]:
    """`voice fetch --all` in its own session: its process group is it and its parse workers."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "aggregator", "fetch", "--all", "--allow-private-hosts",
             "--config", str(config), "--db", str(db)],
            cwd=ROOT,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )  # fmt: skip


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL our own child's process group, by its id, and reap the child."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # it exited just now
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


# -- reading the database as a user would -------------------------------------------------


@dataclass(frozen=True)
class FeedRow:
    posts: dict[str, str]  # guid -> title
    etag: str | None
    status: str | None
    last_checked_at: str | None
    latest_fetch: str | None


def read_db(db: Path) -> tuple[str, dict[str, FeedRow]]:
    """integrity_check, and each feed's posts and state, keyed by URL."""
    if not db.exists():
        return "ok", {}
    conn = sqlite3.connect(db, timeout=15)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "fetches" not in tables:  # killed before the first migration committed
            return check, {}
        feeds = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT id, url, etag, status, last_checked_at, "
                "(SELECT max(started_at) FROM fetches WHERE feed_id = feeds.id) FROM feeds"
            )
        }
        posts: dict[int, dict[str, str]] = {}
        for feed_id, guid, title in conn.execute("SELECT feed_id, guid, title FROM posts"):
            posts.setdefault(feed_id, {})[guid] = title
    finally:
        conn.close()
    rows = {
        url: FeedRow(posts.get(feed_id, {}), etag, status, checked, latest)
        for feed_id, (url, etag, status, checked, latest) in feeds.items()
    }
    return check, rows


def row_for(rows: dict[str, FeedRow], url: str) -> FeedRow:
    return rows.get(url, FeedRow({}, None, None, None, None))


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail only if it never does (a hang)."""
    deadline = time.monotonic() + FETCH_TIMEOUT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {FETCH_TIMEOUT_SECONDS:g} s"
        time.sleep(0.05)


@dataclass
class KillPoint:
    """Where one round's kill lands, chosen by events, not by time.

    The server never answers `held` (a blog with a new version) until the
    round is over, so the cycle is still running at the kill. The kill comes
    as the `nth` request of the round arrives, wherever the writes and parses
    of earlier feeds then are, or, with `after_save`, once another new version
    has also been saved: then some feeds are new and the held one is old.
    """

    held: str
    nth: int
    after_save: bool
    requests: int = 0
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_request(self, record: RequestRecord) -> None:
        with self.lock:
            self.requests += 1
            if self.requests == self.nth:
                self.reached.set()
        if record.path == self.held:
            self.release.wait(FETCH_TIMEOUT_SECONDS)
        return None  # then serve the file as usual


# -- 1. kill -9 mid-cycle ---------------------------------------------------------------------


def test_kill_9_mid_cycle_leaves_each_feed_wholly_old_or_new(
    blogs: tuple[FeedServer, list[Blog], dict[tuple[int, int], str]], tmp_path: Path
) -> None:
    server, feeds, bodies = blogs
    config = write_patient_registry(tmp_path / "feeds.yaml", [b.url for b in feeds])
    db, log = tmp_path / "voice.db", tmp_path / "fetch.log"
    rng = random.Random(20261123)
    current: list[KillPoint | None] = [None]

    def route(record: RequestRecord) -> None:
        point = current[0]
        return None if point is None else point.on_request(record)

    for blog in feeds:
        server.route(blog.path.name, route)

    def changed(blog: Blog) -> bool:
        return blog.saved() != (blog.expected, blog.expected_etag)

    def another_saved(held: Blog) -> bool:
        _, rows = read_db(db)
        return any(
            (row_for(rows, b.url).posts, row_for(rows, b.url).etag) == b.saved()
            for b in feeds
            if b is not held and changed(b)
        )

    for rounds in range(1, KILL_ROUNDS + 1):
        held = rng.choice([b for b in feeds if changed(b)])
        point = KillPoint(f"/{held.path.name}", rng.randint(1, BLOGS), after_save=rounds % 2 == 1)
        current[0] = point
        proc = start_fetch(config, db, log)
        try:
            assert point.reached.wait(FETCH_TIMEOUT_SECONDS), f"round {rounds}: no request"
            if point.after_save:
                saved = f"round {rounds}: another new version saved"
                wait_until(lambda held=held: another_saved(held), saved)
            assert proc.poll() is None, f"round {rounds}: the fetcher ended before the kill"
        finally:
            kill_group(proc)
            point.release.set()
            current[0] = None

        check, rows = read_db(db)
        assert check == "ok", f"round {rounds}: integrity_check said {check}"
        new = old = 0
        for blog in feeds:
            row = row_for(rows, blog.url)
            old_state = (blog.expected, blog.expected_etag)
            new_state = blog.saved()
            state = (row.posts, row.etag)
            assert state in (old_state, new_state), (
                f"round {rounds}: {blog.url} holds {len(row.posts)} posts that match "
                "neither the version stored before nor the one served in this round"
            )
            assert row.latest_fetch == row.last_checked_at, (
                f"round {rounds}: {blog.url}: last fetch at {row.latest_fetch} but the "
                f"feed says it was last checked at {row.last_checked_at}"
            )
            if old_state != new_state:
                if state == new_state:
                    new += 1
                else:
                    old += 1
            blog.expected, blog.expected_etag = state
        if point.after_save:
            assert new > 0 and old > 0, f"round {rounds}: not killed between two saves"

        # New work for the next round: about a third of the blogs publish.
        for blog in rng.sample(feeds, BLOGS // 3):
            blog.revise(bodies)

    # A clean re-run completes the work.
    done = subprocess.run(
        [sys.executable, "-m", "aggregator", "fetch", "--all", "--allow-private-hosts",
         "--config", str(config), "--db", str(db)],
        cwd=ROOT, capture_output=True, text=True, timeout=FETCH_TIMEOUT_SECONDS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{BLOGS} feeds checked" in done.stdout and "0 failed" in done.stdout
    check, rows = read_db(db)
    assert check == "ok"
    for blog in feeds:
        row = row_for(rows, blog.url)
        assert row.status == "ok", f"{blog.url} is {row.status} after the clean run"
        assert (row.posts, row.etag) == blog.saved(), f"{blog.url} does not hold its feed"
        assert row.latest_fetch == row.last_checked_at


# -- 2. fetcher and admin command at once ---------------------------------------------------


@dataclass(frozen=True)
class Removal:
    url: str
    code: int
    stderr: str


def test_fetcher_and_admin_command_write_at_once_without_locked_errors(
    blogs: tuple[FeedServer, list[Blog], dict[tuple[int, int], str]], tmp_path: Path
) -> None:
    """`voice remove` on eight blogs while `voice fetch` writes all forty.

    Each taken-down blog's feed is held by the server until its removal has
    finished, so every admin command runs while the fetcher is mid-cycle, with
    that very feed in flight, and other feeds are being written around it.
    """
    server, feeds, bodies = blogs
    config = write_patient_registry(tmp_path / "feeds.yaml", [b.url for b in feeds])
    db, log = tmp_path / "voice.db", tmp_path / "fetch.log"
    # An existing database, then every blog publishes: the next cycle writes every feed.
    first = subprocess.run(
        [sys.executable, "-m", "aggregator", "fetch", "--all", "--allow-private-hosts",
         "--config", str(config), "--db", str(db)],
        cwd=ROOT, capture_output=True, text=True, timeout=FETCH_TIMEOUT_SECONDS,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    for blog in feeds:
        blog.revise(bodies)
    targets = feeds[::5]
    requested = {b.url: threading.Event() for b in targets}
    removed = {b.url: threading.Event() for b in targets}

    def hold_until_removed(url: str) -> Callable[[RequestRecord], None]:
        def handler(record: RequestRecord) -> None:
            requested[url].set()
            removed[url].wait(timeout=FETCH_TIMEOUT_SECONDS / 2)
            return None  # then serve the file as usual

        return handler

    for blog in targets:
        server.route(blog.path.name, hold_until_removed(blog.url))

    def remove(url: str) -> Removal:
        try:
            assert requested[url].wait(timeout=FETCH_TIMEOUT_SECONDS / 2), f"{url} never fetched"
            done = subprocess.run(
                [sys.executable, "-m", "aggregator", "remove", url, "--reason", "member asked",
                 "--by", "admin", "--config", str(config), "--db", str(db)],
                cwd=ROOT, capture_output=True, text=True, timeout=FETCH_TIMEOUT_SECONDS,
            )  # fmt: skip
        finally:
            removed[url].set()
        return Removal(url, done.returncode, done.stderr)

    proc = start_fetch(config, db, log)
    try:
        with ThreadPoolExecutor(2) as admins:  # two admin commands at a time, plus the fetcher
            removals = list(admins.map(remove, [b.url for b in targets]))
        proc.wait(timeout=FETCH_TIMEOUT_SECONDS)
    finally:
        kill_group(proc)

    output = log.read_text(encoding="utf-8", errors="replace")
    assert proc.returncode == 0, output
    assert "locked" not in output and f"{BLOGS} feeds checked" in output, output
    assert "0 failed" in output, output
    for r in removals:
        assert r.code == 0 and "locked" not in r.stderr, f"{r.url}: exit {r.code}: {r.stderr}"

    gone = sorted(b.url for b in targets)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.execute("ATTACH DATABASE ? AS private", [str(db.with_name("voice-private.db"))])
        audit = conn.execute(
            "SELECT target, reason, removed_by FROM private.removals ORDER BY target"
        )
        assert audit.fetchall() == [(u, "member asked", "admin") for u in gone]
        # a taken-down blog's row no longer names it: find it through the private file
        urls = dict(conn.execute("SELECT feed_id, url FROM private.removed_feeds").fetchall())
        urls.update(conn.execute("SELECT id, url FROM feeds WHERE removed_at IS NULL").fetchall())
        visible = {
            urls[feed_id]: count
            for feed_id, count in conn.execute(
                "SELECT feeds.id, count(posts_public.id) FROM feeds"
                " LEFT JOIN posts_public ON posts_public.feed_id = feeds.id GROUP BY feeds.id"
            )
        }
        status = {urls[i]: s for i, s in conn.execute("SELECT id, status FROM feeds")}
    finally:
        conn.close()
    registry = config.read_text(encoding="utf-8")
    assert not [u for u in gone if u in registry], "a removed blog is still in feeds.yaml"
    for blog in feeds:
        if blog.url not in gone:
            assert blog.url in registry
            assert status[blog.url] == "ok"
            assert visible[blog.url] == POSTS + 1  # the first version's dropped post is kept
    shown = {u: (status[u], visible[u]) for u in gone if (status[u], visible[u]) != ("removed", 0)}
    assert shown == {}, "removed while in flight: still removed, posts hidden"
