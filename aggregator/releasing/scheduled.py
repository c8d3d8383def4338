"""Releases made by `voice run`: every `release_every_days`, keeping `releases_kept`.

After each fetch cycle that succeeded, `ReleaseRunner.after_cycle` asks the pure
`release_due` whether the newest release is old enough (or withdrawn, because
it holds something taken down since), and if so makes one in a thread of its
own, so fetching carries on meanwhile (a release reads one consistent moment;
see snapshot). At most one release runs at a time; after a failed one the
runner waits `RETRY_AFTER` before trying again, so a full disk is not hit
every cycle; a stop abandons a release between its steps.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

from aggregator.errors import AggregatorError
from aggregator.releasing.release import (
    MANIFEST,
    default_folder,
    holds_taken_down,
    list_releases,
    make_release,
)

log = logging.getLogger(__name__)
RETRY_AFTER = timedelta(hours=6)


def release_due(
    latest: datetime | None,
    now: datetime,
    every_days: int,
    has_posts: bool,
    failed_at: datetime | None = None,
) -> bool:
    """Whether to make a release now: never when switched off (0), with nothing to
    release, or within `RETRY_AFTER` of a failed attempt; at once when there is
    none (or the newest is withdrawn: `latest` None); else when the newest is
    `every_days` old."""
    if every_days <= 0 or not has_posts:
        return False
    if failed_at is not None and now - failed_at < RETRY_AFTER:
        return False
    return latest is None or now - latest >= timedelta(days=every_days)


def latest_release(folder: Path, db: Path) -> datetime | None:
    """When the newest release in `folder` was made, from its manifest; None when
    there is none, when it holds a post or blog taken down since, or when its
    database cannot be read."""
    releases = list_releases(folder)
    if not releases:
        return None
    created = json.loads((releases[-1] / MANIFEST).read_text(encoding="utf-8"))["created"]
    try:
        if holds_taken_down(releases[-1], db, since=created):
            return None
    except sqlite3.Error:  # its database is damaged: the site has withdrawn it too
        return None
    return datetime.fromisoformat(created)


def has_public_posts(db: Path) -> bool:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT EXISTS (SELECT 1 FROM posts_public)").fetchone()[0] == 1


class ReleaseRunner:
    """Starts a release when one is due, one at a time; `join` waits for a running one."""

    def __init__(
        self,
        db: Path,
        clock: Callable[[], datetime],
        stop: threading.Event | None = None,
    ) -> None:
        self.db, self.clock = db, clock
        self.stop = stop or threading.Event()
        self._thread: threading.Thread | None = None
        self.failed_at: datetime | None = None

    def after_cycle(self, every_days: int, keep: int) -> bool:
        """Start a release if one is due and none is running; whether one was started."""
        if self.stop.is_set() or (self._thread is not None and self._thread.is_alive()):
            return False
        try:
            due = release_due(
                latest_release(default_folder(self.db), self.db),
                self.clock(),
                every_days,
                every_days > 0 and has_public_posts(self.db),
                self.failed_at,
            )
        except (OSError, ValueError, KeyError, TypeError, sqlite3.Error) as exc:
            log.error("release check failed: %s", exc)
            return False
        if due:
            self._thread = threading.Thread(
                target=self._release, args=(keep,), name="voice-release"
            )
            self._thread.start()
        return due

    def _release(self, keep: int) -> None:
        try:
            result = make_release(self.db, clock=self.clock, keep=keep, stop=self.stop)
        except AggregatorError as exc:
            self.failed_at = self.clock()
            log.error("release failed: %s", exc)
            return
        except Exception:  # a bug: logged with its traceback, and fetching carries on
            self.failed_at = self.clock()
            log.exception("release failed")
            return
        self.failed_at = None
        posts = result.counts.get("posts", 0)
        log.info("release %s written: %d posts (%s)", result.release_id, posts, result.folder)

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
