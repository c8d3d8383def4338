"""A full disk stops a cycle at its first failed write (issue 9).

Before, every feed was still fetched and parsed, then nothing was saved, and
each later cycle did it all again. Now no new fetch starts after the first
failed write: at most one more request per concurrent slot (a fetch already
in flight) reaches the server, the unsaved feeds stay due, and the next cycle
with room saves them.

The first test makes writes fail on cue, in process; the second fills a real
tmpfs and runs `voice fetch` as a subprocess (it needs root to mount, and is
skipped with the reason where mounting is refused).
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator import storage
from aggregator.errors import StoreError
from aggregator.models import FeedUpdateRecord
from aggregator.parsing.pool import ParsePool
from aggregator.storage.connection import private_path
from aggregator.update import FeedResult, update_feeds
from aggregator.update.cycle import STORES
from tests.support.feedserver import FeedServer

from .conftest import ROOT, registry_for, rows

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WORDS = (
    "council", "digital", "service", "housing", "data", "open", "team", "blog", "user",
    "research", "platform", "local", "government", "agile", "delivery", "design", "content",
    "accessibility", "procurement", "cloud", "budget",
)  # fmt: skip
HANG_SECONDS = 120.0  # a deadline only a hang reaches


def write_blogs(site: Path, server: FeedServer, count: int, posts: int, words: int) -> list[str]:
    """`count` RSS files of `posts` posts of about `words` words each; their URLs."""
    urls = []
    for n in range(count):
        rng = random.Random(n)
        items = "".join(
            f"<item><title>Blog {n} post {p}</title>"
            f"<link>https://blog{n}.example/posts/{p}</link>"
            f'<guid isPermaLink="false">blog{n}-post{p}</guid>'
            f"<pubDate>{1 + p % 28:02d} Jan 2024 10:00:00 GMT</pubDate>"
            f"<description>{' '.join(rng.choice(WORDS) for _ in range(words))}</description>"
            "</item>"
            for p in range(posts)
        )
        (site / f"blog{n}.rss").write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Blog {n}</title><link>https://blog{n}.example/</link>{items}"
            "</channel></rss>\n",
            encoding="utf-8",
        )
        urls.append(server.url(f"blog{n}.rss"))
    return urls


def saved_urls(db: Path, after_fetch_id: int = 0) -> set[str]:
    """Feeds with a fetch logged after `after_fetch_id`: their write committed."""
    found = rows(
        db,
        "SELECT DISTINCT url FROM fetches JOIN feeds ON feeds.id = feed_id WHERE fetches.id > ?",
        after_fetch_id,
    )
    return {url for (url,) in found}


def last_fetch_id(db: Path) -> int:
    return rows(db, "SELECT coalesce(max(id), 0) FROM fetches")[0][0]


# -- in process: writes that fail on cue --------------------------------------------------


class FillingDisk:
    """storage.save_update for the first `room` feeds; after that every write fails.

    `requests_at_failure` is how many requests the feed server had seen when
    the first write failed, taken on the writer thread as it fails.
    """

    def __init__(self, server: FeedServer, room: int) -> None:
        self.server = server
        self.room = room
        self.requests_at_failure: int | None = None

    def __call__(self, conn: sqlite3.Connection, record: FeedUpdateRecord) -> storage.SaveResult:
        if self.room > 0:
            self.room -= 1
            return storage.save_update(conn, record)
        if self.requests_at_failure is None:
            self.requests_at_failure = len(self.server.requests)
        raise StoreError("cannot write to the database: database or disk is full")


def test_no_fetch_starts_after_the_first_failed_write_and_the_rest_stay_due(
    server: FeedServer, feed_dir: Path, db_path: Path, pool: ParsePool
) -> None:
    slots = 3
    urls = write_blogs(feed_dir, server, 24, posts=3, words=40)
    registry = registry_for(*urls, concurrency=slots, per_host=slots)
    disk = FillingDisk(server, room=5)
    reported: list[FeedResult] = []
    stop = threading.Event()  # `voice run`'s: setting it would end the service
    with pytest.raises(StoreError, match="disk is full"):
        update_feeds(
            registry,
            db_path,
            clock=lambda: NOW,
            pool=pool,
            stop=stop,
            save=disk,
            save_many=None,  # every outcome through the filling disk, 304s included
            on_result=reported.append,
        )
    assert not stop.is_set()
    assert disk.requests_at_failure is not None
    assert len(server.requests) - disk.requests_at_failure <= slots  # fetches in flight only
    saved = saved_urls(db_path)
    assert len(saved) == 5
    assert {r.url for r in reported if r.outcome != "skipped"} == saved  # none unsaved

    server.clear_requests()
    again = update_feeds(registry, db_path, clock=lambda: NOW, pool=pool)
    assert {f.url for f in again.feeds} == set(urls) - saved  # the rest stayed due
    assert again.count("ok") == len(again.feeds)
    assert len(server.requests) == len(again.feeds)
    assert saved_urls(db_path) == set(urls)


# -- a real full disk: `voice fetch` on a small tmpfs --------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MB tmpfs of the test's own, so filling it disturbs nothing else.

    32 MB, not the 3 MB of the report: until a checkpoint (every ~40 MB of
    WAL) a cycle's write-ahead log grows well past the data it stores, and
    the resumed cycle must fit.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not allowed here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)]).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk: Path, slack: int) -> Path:
    """Write a file until the disk is full, then give back `slack` bytes of it."""
    filler = disk / "filler"
    chunk = bytes(1 << 20)
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    os.truncate(filler, max(0, filler.stat().st_size - slack))
    return filler


def voice_fetch(config: Path, db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "fetch", "--allow-private-hosts",
         "--config", str(config), "--db", str(db), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS,
    )  # fmt: skip


def integrity(db: Path) -> list[str]:
    """PRAGMA integrity_check of the public file and the private one beside it."""
    results = []
    for path in (db, private_path(db)):
        conn = sqlite3.connect(path)
        try:
            results.append(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()
    return results


def test_voice_fetch_on_a_full_disk_stops_early_and_resumes_once_there_is_room(
    small_disk: Path, tmp_path: Path
) -> None:
    slots = 2
    site = tmp_path / "site"
    site.mkdir()
    with FeedServer(site) as server:
        urls = write_blogs(site, server, 40, posts=10, words=200)  # 0.7 MB served
        config = tmp_path / "feeds.yaml"
        config.write_text(
            f"settings:\n  host_gap_seconds: 0.0\n  concurrency: {slots}\nfeeds:\n"
            + "".join(f"  - url: {u}\n    region: London\n" for u in urls),
            encoding="utf-8",
        )
        db = small_disk / "voice.db"
        filler = fill(small_disk, slack=512 * 1024)  # room for the schema and a few feeds

        # The disk fills during the first cycle; the second starts on a full disk.
        for label in ("fills", "still full"):
            before = last_fetch_id(db) if db.exists() else 0
            server.clear_requests()
            done = voice_fetch(config, db, "--all")
            assert done.returncode == 3, (label, done.stdout, done.stderr)
            (line,) = done.stderr.strip().splitlines()  # one line, no traceback
            assert line.startswith("Error: ") and "disk is full" in line, label
            fetched = {server.url(r.path) for r in server.requests}
            unsaved = fetched - saved_urls(db, before)
            # The failed batch of feeds, and at most one per slot either side of
            # the failure: parsed and waiting for the writer, or in flight.
            assert len(unsaved) <= STORES[1] + 2 * slots, (label, len(unsaved))
            assert integrity(db) == ["ok", "ok"]

        saved = saved_urls(db)
        filler.unlink()
        server.clear_requests()
        resumed = voice_fetch(config, db)  # due feeds only, as `voice run` checks them
        assert resumed.returncode == 0, resumed.stderr
        assert {server.url(r.path) for r in server.requests} == set(urls) - saved
    assert saved_urls(db) == set(urls)
    assert rows(db, "SELECT count(*) FROM posts") == [(40 * 10,)]
    assert integrity(db) == ["ok", "ok"]
