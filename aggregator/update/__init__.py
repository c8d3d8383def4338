"""One fetch cycle: due feeds → fetch in parallel → parse in workers → one write per feed.

Every per-feed failure is a value recorded on that feed; only configuration
and database problems escape to the caller.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from aggregator import __version__
from aggregator import fetching as fetch
from aggregator import storage as store
from aggregator.errors import ConfigError, FetchError, ParseError, StoreError
from aggregator.health import explain
from aggregator.models import (
    FeedState,
    FeedUpdateRecord,
    FetchLimits,
    ParseJob,
    Registry,
    ResponseData,
    Settings,
)
from aggregator.parsing.pool import ParsePool
from aggregator.schedule import ScheduleInputs, from_iso, next_check, to_iso
from aggregator.storage import feeds as store_feeds

log = logging.getLogger("voice")
Clock = Callable[[], datetime]
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FeedResult:
    """What happened to one feed in one cycle."""

    url: str
    outcome: str  # ok, not_modified, unchanged, error, gone, skipped
    new_posts: int = 0
    updated_posts: int = 0
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class UpdateResult:
    """A cycle's summary, for the CLI line and for tests."""

    feeds: tuple[FeedResult, ...]

    def count(self, *outcomes: str) -> int:
        return sum(1 for f in self.feeds if f.outcome in outcomes)

    @property
    def new_posts(self) -> int:
        return sum(f.new_posts for f in self.feeds)

    @property
    def updated_posts(self) -> int:
        return sum(f.updated_posts for f in self.feeds)

    def summary(self) -> str:
        checked = len(self.feeds) - self.count("skipped")
        return (
            f"{checked} feeds checked, {self.count('not_modified', 'unchanged')} not modified, "
            f"{self.new_posts} new posts, {self.updated_posts} updated, "
            f"{self.count('error', 'gone')} failed"
        )


@dataclass
class _Cycle:
    """The injected edges and shared limits of one cycle."""

    conn: sqlite3.Connection
    client: object
    pool: ParsePool
    settings: Settings
    limits: FetchLimits
    clock: Clock
    stop: threading.Event
    on_result: Callable[[FeedResult], None]
    slots: asyncio.Semaphore
    hosts: defaultdict[str, asyncio.Semaphore]
    db_thread: ThreadPoolExecutor
    pool_started: bool = False
    vocabulary: Any = None  # tagging.Vocabulary, or None when there is no topics.yaml
    next_start: dict[str, float] = field(default_factory=dict)  # per host, monotonic

    def in_db(self, func: Callable[..., T], *args: object) -> asyncio.Future[T]:
        """Run a database call on the one writer thread.

        sqlite releases the GIL while it works, so writes overlap with fetching
        instead of stalling the event loop; one thread keeps them in order. A
        write that has started always finishes, even if its feed is cancelled.
        """
        future = asyncio.get_running_loop().run_in_executor(self.db_thread, func, *args)
        return asyncio.shield(future)


def _hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _next_check(
    cycle: _Cycle,
    feed: FeedState,
    started: datetime,
    outcome: str,
    error_count: int,
    **hints: Any,
) -> str | None:
    """The schedule's pure decision, fed with this feed's settings and the server's hints."""
    settings = cycle.settings
    moment = next_check(
        ScheduleInputs(
            now=started,
            feed_id=feed.id,
            outcome=outcome,
            error_count=error_count,
            override_minutes=feed.interval_minutes,
            default_minutes=settings.interval_minutes,
            min_minutes=settings.min_interval_minutes,
            max_minutes=settings.max_interval_hours * 60,
            **hints,
        )
    )
    return None if moment is None else to_iso(moment)


def _failure(
    cycle: _Cycle,
    feed: FeedState,
    started: datetime,
    t0: float,
    kind: str,
    message: str,
    http_status: int | None,
    *,
    recent: tuple[datetime, ...] = (),
    retry_after: str | None = None,
) -> FeedUpdateRecord:
    errors = feed.error_count + 1
    gone = kind == "gone"
    failing_since = feed.failing_since or to_iso(started)
    days_failing = (started - from_iso(failing_since)).total_seconds() / 86400
    status = (
        "gone"
        if gone
        else "failing"
        if days_failing >= cycle.settings.failing_after_days
        else "error"
    )
    return FeedUpdateRecord(
        feed_id=feed.id,
        started_at=to_iso(started),
        duration_ms=int((time.monotonic() - t0) * 1000),
        outcome="gone" if gone else "error",
        status=status,
        failing_since=failing_since,
        explanation=explain(status, kind, http_status).explanation,
        next_check_at=_next_check(
            cycle,
            feed,
            started,
            "gone" if gone else "error",
            errors,
            recent_posts=recent,
            http_status=http_status,
            retry_after=retry_after,
        ),
        error_count=errors,
        http_status=http_status,
        error_kind=kind,
        error=message,
    )


def _success(
    cycle: _Cycle,
    feed: FeedState,
    started: datetime,
    t0: float,
    resp: ResponseData,
    outcome: str,
    *,
    recent: tuple[datetime, ...] = (),
    ttl_minutes: int | None = None,
    **extra: object,
) -> FeedUpdateRecord:
    return FeedUpdateRecord(
        feed_id=feed.id,
        started_at=to_iso(started),
        duration_ms=int((time.monotonic() - t0) * 1000),
        outcome=outcome,
        status="ok",
        explanation=explain("ok", None).explanation,
        next_check_at=_next_check(
            cycle,
            feed,
            started,
            outcome,
            0,
            recent_posts=recent,
            http_status=resp.status,
            cache_control=resp.cache_control,
            expires=resp.expires,
            ttl_minutes=ttl_minutes,
        ),
        error_count=0,
        http_status=resp.status,
        bytes=resp.bytes_received,
        etag=resp.etag,
        last_modified=resp.last_modified,
        permanent_redirect=resp.permanent_redirect,
        redirect_pending=feed.pending_redirect is not None,
        redirect_rule=(
            cycle.settings.redirect_confirm_times,
            cycle.settings.redirect_confirm_days,
        ),
        **extra,  # type: ignore[arg-type]
    )


async def _check_feed(cycle: _Cycle, feed: FeedState) -> FeedUpdateRecord | None:
    """Fetch and parse one feed; return what to write, or None when stopping.

    The host slot is taken first, so feeds waiting for a busy host hold no
    global slot; it is released once fetched. The global slot is held to the
    end of parsing, so at most `concurrency` bodies wait in memory.
    """
    if cycle.stop.is_set():
        return None
    recent = feed.recent_published
    key = fetch.host_key(feed.url)
    host = cycle.hosts[key]
    await host.acquire()
    try:
        await _keep_gap(cycle, key)
        await cycle.slots.acquire()
    except BaseException:
        host.release()
        raise
    try:
        try:
            fetched = await _fetch(cycle, feed, recent)
        finally:
            host.release()
        if fetched is None or isinstance(fetched, FeedUpdateRecord):
            return fetched
        resp, started, t0 = fetched
        if resp.body is None:
            return _success(cycle, feed, started, t0, resp, "not_modified", recent=recent)
        body_hash = _hash(resp.body)
        if body_hash == feed.body_hash:
            return _success(cycle, feed, started, t0, resp, "unchanged", recent=recent)
        return await _parse(cycle, feed, started, t0, resp, body_hash, recent)
    finally:
        cycle.slots.release()


async def _keep_gap(cycle: _Cycle, key: str) -> None:
    """Space requests to one host at least `host_gap_seconds` apart.

    The next start is reserved before sleeping, so feeds queued for the same
    host are staggered rather than released together.
    """
    gap = cycle.settings.host_gap_seconds
    if gap <= 0:
        return
    now = time.monotonic()
    start = max(now, cycle.next_start.get(key, now))
    cycle.next_start[key] = start + gap
    if start > now:
        await asyncio.sleep(start - now)


async def _fetch(
    cycle: _Cycle, feed: FeedState, recent: tuple[datetime, ...]
) -> FeedUpdateRecord | tuple[ResponseData, datetime, float] | None:
    if cycle.stop.is_set():
        return None
    started = cycle.clock()
    t0 = time.monotonic()
    try:
        resp = await fetch.fetch_feed(
            cycle.client,
            feed.url,
            cycle.limits,
            etag=feed.etag,
            last_modified=feed.last_modified,
        )
    except FetchError as exc:
        return _failure(
            cycle,
            feed,
            started,
            t0,
            exc.kind,
            exc.message,
            exc.http_status,
            recent=recent,
            retry_after=getattr(exc, "retry_after", None),
        )
    return resp, started, t0


async def _parse(
    cycle: _Cycle,
    feed: FeedState,
    started: datetime,
    t0: float,
    resp: ResponseData,
    body_hash: str,
    recent: tuple[datetime, ...],
) -> FeedUpdateRecord:
    assert resp.body is not None
    known = await cycle.in_db(store.known_entries, cycle.conn, feed.id)
    job = ParseJob(
        body=resp.body,
        url=resp.url,
        content_type=resp.content_type,
        fetched_at=to_iso(started),
        known=known,
        max_entries=cycle.settings.max_entries,
        max_entry_bytes=cycle.settings.max_entry_bytes,
        vocabulary=cycle.vocabulary,
        feed_topics=tuple(json.loads(feed.topics)),
    )
    if not cycle.pool_started:  # forked here, in the loop thread, and only when needed
        cycle.pool.start()
        cycle.pool_started = True
    try:
        data = await asyncio.to_thread(cycle.pool.parse, job)
    except ParseError as exc:
        return _failure(cycle, feed, started, t0, exc.kind, exc.message, resp.status, recent=recent)
    published = tuple(from_iso(e.published) for e in data.entries if e.published)
    return _success(
        cycle,
        feed,
        started,
        t0,
        resp,
        "ok",
        recent=recent + published,
        ttl_minutes=data.ttl_minutes,
        body_hash=body_hash,
        feed_title=data.title,
        site_url=data.site_url,
        entries=data.entries,
        known_keys=frozenset(known),
        seen_keys=frozenset(data.seen_keys),
        backfill_keep=cycle.settings.backfill_keep if feed.last_success_at is None else None,
        rules_version=data.rules_version,
        note="; ".join(data.notes) or None,
    )


def _internal_failure(
    cycle: _Cycle, feed: FeedState, started: datetime
) -> FeedUpdateRecord:
    """The record for a bug: built from plain values only, so it cannot fail in turn."""
    retry = started + timedelta(minutes=cycle.settings.interval_minutes)
    return FeedUpdateRecord(
        feed_id=feed.id,
        started_at=to_iso(started),
        duration_ms=0,
        outcome="error",
        status="error",
        next_check_at=to_iso(retry),
        error_count=feed.error_count + 1,
        failing_since=feed.failing_since or to_iso(started),
        error_kind="internal",
        error="Voice hit an internal error checking this feed; the log has the details",
        explanation=explain("error", "internal").explanation,
    )


async def _update_one(cycle: _Cycle, feed: FeedState) -> FeedResult:
    try:
        record = await _check_feed(cycle, feed)
    except (asyncio.CancelledError, StoreError):
        raise
    except Exception:  # a bug: keep the traceback in the log, record it, carry on
        log.exception("unexpected error while checking %s", feed.url)
        record = _internal_failure(cycle, feed, cycle.clock())
    if record is None:
        result = FeedResult(feed.url, "skipped")
    else:
        saved = await cycle.in_db(store.save_update, cycle.conn, record)
        result = FeedResult(
            feed.url,
            record.outcome,
            saved.new_posts,
            saved.updated_posts,
            record.error_kind,
            record.error,
        )
    cycle.on_result(result)
    return result


async def _run_cycle(cycle: _Cycle, feeds: list[FeedState]) -> list[FeedResult]:
    async with cycle.client:  # type: ignore[attr-defined]
        tasks = [asyncio.ensure_future(_update_one(cycle, f)) for f in feeds]
        watcher = asyncio.ensure_future(_cancel_on_stop(cycle.stop, tasks))
        try:
            if tasks:
                await asyncio.wait(tasks)
        finally:
            watcher.cancel()
            cycle.db_thread.shutdown(wait=True)
        # Retrieve every task's exception, not just the first: an unretrieved one
        # is logged from Task.__del__ during a later garbage collection, which on
        # CPython 3.11 can corrupt a concurrent ast.parse ("AST constructor
        # recursion depth mismatch").
        failures = [t.exception() for t in tasks if not t.cancelled() and t.exception()]
        if failures:
            raise failures[0]
        return [
            FeedResult(feed.url, "skipped") if task.cancelled() else task.result()
            for feed, task in zip(feeds, tasks, strict=True)
        ]


async def _cancel_on_stop(stop: threading.Event, tasks: list[asyncio.Future[FeedResult]]) -> None:
    """On stop, abandon fetches in flight; they stay due and are retried next time.

    Cancellation lands only at an await, and a feed's write has none, so a
    write in progress always completes.
    """
    while not stop.is_set():
        await asyncio.sleep(0.2)
    for task in tasks:
        task.cancel()


def update_feeds(
    registry: Registry,
    db_path: Path,
    *,
    due_only: bool = True,
    feed_url: str | None = None,
    allow_private_hosts: bool | None = None,
    clock: Clock = utc_now,
    transport: object | None = None,
    pool: ParsePool | None = None,
    stop: threading.Event | None = None,
    on_start: Callable[[int], None] = lambda total: None,
    on_result: Callable[[FeedResult], None] = lambda result: None,
    vocabulary: Any = None,
) -> UpdateResult:
    """Run one cycle. Raises only ConfigError/StoreError; feed failures are in the result."""
    settings = registry.settings
    if allow_private_hosts is not None:
        settings = replace(settings, allow_private_hosts=allow_private_hosts)
    limits = fetch.limits_from_settings(settings, __version__)
    conn = store.connect(db_path)
    own_pool = pool is None
    pool = pool or ParsePool(
        workers=settings.parse_workers,
        memory_mb=settings.parse_memory_mb,
        cpu_seconds=settings.parse_cpu_seconds,
        wall_seconds=settings.parse_wall_seconds,
    )
    try:
        now = to_iso(clock())
        store_feeds.sync_feeds(conn, registry.feeds, now)
        feeds = store_feeds.select_feeds(
            conn, now, due_only=due_only and feed_url is None, url=feed_url
        )
        if feed_url is not None and not feeds:
            raise ConfigError(f"{feed_url}: not in the registry")
        on_start(len(feeds))
        results = asyncio.run(
            _run_cycle(
                _Cycle(
                    conn=conn,
                    client=fetch.make_client(limits, transport=transport),  # type: ignore[arg-type]
                    pool=pool,
                    settings=settings,
                    limits=limits,
                    clock=clock,
                    stop=stop or threading.Event(),
                    on_result=on_result,
                    slots=asyncio.Semaphore(settings.concurrency),
                    hosts=defaultdict(lambda: asyncio.Semaphore(settings.per_host)),
                    db_thread=ThreadPoolExecutor(1, thread_name_prefix="voice-db"),
                    vocabulary=vocabulary,
                ),
                feeds,
            )
        )
    except sqlite3.Error as exc:  # reads outside a transaction; writes raise StoreError
        raise StoreError(f"{db_path}: {exc}") from exc
    finally:
        if own_pool:
            pool.close()
        conn.close()
    return UpdateResult(tuple(results))
