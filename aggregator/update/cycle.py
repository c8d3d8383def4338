"""One fetch cycle: due feeds → fetch in parallel → parse in workers → write each feed.

Every per-feed failure is a value recorded on that feed; only configuration
and database problems escape to the caller. The first failed write ends the
cycle early: a full disk fails every write alike, so fetching on would only
download what cannot be kept. What each outcome writes is decided in
`records`; this module only orders the work. Feeds share transactions
(gates.Batches): those whose fetch stores no posts (a 304, an unchanged
body) up to a hundred, those that store posts up to ten.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from aggregator import __version__, fetching, storage
from aggregator.analysis.vocabulary import Vocabulary, rules_version
from aggregator.errors import ConfigError, FetchError, InternalError, ParseError, StoreError
from aggregator.models import (
    FeedState,
    FeedUpdateRecord,
    ParseJob,
    Registry,
    ResponseData,
)
from aggregator.schedule import to_iso
from aggregator.storage import feeds as stored_feeds
from aggregator.storage import verification
from aggregator.update import loop, upkeep
from aggregator.update.gates import Batches, HostGates, Writer
from aggregator.update.records import (
    Attempt,
    Failure,
    FeedResult,
    Parsed,
    UpdateResult,
    failure_record,
    internal_record,
    success_record,
)
from aggregator.update.state import Clock, Cycle, SaveMany, SaveUpdate
from aggregator.update.tokens import look_for_token, look_on_home_page
from aggregator.update.worker import VoicePool, make_pool

log = logging.getLogger("voice")
BATCHED = ("not_modified", "unchanged")  # outcomes that store no posts
# Parsed feeds, which store posts, are written up to 10 to a transaction, the
# first waiting at most 0.2 s: each commit writes every page it changed to
# the WAL, and one feed's twenty posts change pages all over the duplicate
# keys' index and the FTS index. See docs/design.md.
STORES = (0.2, 10)  # Batches' wait and most


class LazyTopics(Protocol):
    """A checked topics.yaml whose Vocabulary is built on first use (registry.topics)."""

    rows: tuple[tuple[str, str, str], ...]  # (slug, label, description), for `topics`

    def get(self) -> Vocabulary: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _check_feed(cycle: Cycle, feed: FeedState) -> FeedUpdateRecord | None:
    """Fetch and parse one feed; return what to write, or None when stopping.

    The host slot is taken first, so feeds waiting for a busy host hold no
    global slot; it is released once fetched. The global slot is held to the
    end of parsing, so at most `concurrency` bodies wait in memory.
    """
    if cycle.stopping():
        return None
    async with cycle.hosts.enter(feed.url):
        await cycle.slots.acquire()
        try:
            if cycle.stopping():
                cycle.slots.release()
                return None
            started, t0 = cycle.clock(), time.monotonic()
            response = await fetching.fetch_feed(
                cycle.client,
                feed.url,
                cycle.limits,
                etag=feed.etag,
                last_modified=feed.last_modified,
            )
        except FetchError as exc:
            cycle.slots.release()
            attempt = _attempt(feed, started, t0)
            return failure_record(attempt, Failure.of_fetch(exc), cycle.settings)
        except BaseException:
            cycle.slots.release()
            raise
    try:
        record = await _record_response(cycle, feed, started, t0, response)
    finally:
        cycle.slots.release()
    await look_on_home_page(cycle, feed, record, response)
    return record


def _attempt(feed: FeedState, started: datetime, t0: float) -> Attempt:
    return Attempt(feed, started, int((time.monotonic() - t0) * 1000))


async def _record_response(
    cycle: Cycle, feed: FeedState, started: datetime, t0: float, response: ResponseData
) -> FeedUpdateRecord:
    """304 and an identical body cost nothing more; a changed body goes to the workers."""
    settings = cycle.settings
    if response.body is None:
        return success_record(_attempt(feed, started, t0), response, "not_modified", settings)
    await look_for_token(cycle, feed, response.body, started)
    body_hash = hashlib.sha256(response.body).hexdigest()
    if body_hash == feed.body_hash:
        return success_record(_attempt(feed, started, t0), response, "unchanged", settings)
    conn = cycle.writer.conn
    known, known_blocks = await cycle.writer.run(storage.known_entries, conn, feed.id)
    job = ParseJob(
        body=response.body,
        url=response.url,
        content_type=response.content_type,
        fetched_at=to_iso(started),
        known=known,
        known_blocks=known_blocks,
        max_entries=settings.max_entries,
        max_entry_bytes=settings.max_entry_bytes,
        feed_topics=tuple(json.loads(feed.topics)),
    )
    _share_vocabulary(cycle)
    cycle.pool.start()  # forked here, in the loop thread, and only when first needed
    try:
        data = await asyncio.to_thread(cycle.pool.parse, job)
    except ParseError as exc:
        failure = Failure.of_parse(exc, response.status)
        return failure_record(_attempt(feed, started, t0), failure, settings)
    parsed = Parsed(data, body_hash, frozenset(known))
    return success_record(_attempt(feed, started, t0), response, "ok", settings, parsed)


def _share_vocabulary(cycle: Cycle) -> None:
    """At the first body to parse: build the vocabulary and hand it to the workers.

    A cycle where every feed answers 304 never builds it. Runs in the loop
    thread before any of this cycle's jobs, as ParsePool.share asks.
    """
    if not cycle.shared.is_set():
        vocabulary = cycle.vocabulary()
        key = rules_version(vocabulary) if vocabulary is not None else None
        cycle.pool.share(key, vocabulary)
        cycle.shared.set()


async def _update_one(cycle: Cycle, feed: FeedState) -> FeedResult:
    try:
        record = await _check_feed(cycle, feed)
    except (asyncio.CancelledError, StoreError):
        raise
    except InternalError as exc:  # a bug in a worker: its traceback came back as text
        log.error("internal error while checking %s: %s\n%s", feed.url, exc, exc.detail)
        record = internal_record(feed, cycle.clock(), cycle.settings)
    except Exception:  # a bug: keep the traceback in the log, record it, carry on
        log.exception("unexpected error while checking %s", feed.url)
        record = internal_record(feed, cycle.clock(), cycle.settings)
    cycle.unchecked.left -= 1
    if record is None:
        _flush_if_last(cycle)
        result = FeedResult(feed.url, "skipped")
        if cycle.write_failed.is_set():
            return result  # the cycle is failing: report nothing it did not save
    else:
        saved = await _save(cycle, record)
        result = FeedResult(
            feed.url,
            record.outcome,
            saved.new_posts,
            saved.updated_posts,
            record.error_kind,
            record.error_detail or record.error,  # the operator sees the detail
        )
    cycle.on_result(result)
    return result


async def _save(cycle: Cycle, record: FeedUpdateRecord) -> storage.SaveResult:
    """Write one feed; a failed write stops the cycle's fetching (issue 9, a full disk).

    The flag is set as this task resumes, before any other runs, so no fetch
    starts after it; `_run_cycle` then abandons the fetches in flight.
    """
    try:
        batches = cycle.batches.get(record.outcome)
        if batches is not None:
            written = batches.put(record)
        else:
            written = cycle.writer.run(cycle.save, cycle.writer.conn, record)
        _flush_if_last(cycle)
        return await written
    except StoreError as exc:
        cycle.write_failed.set()
        raise StoreError(
            f"{exc} (the cycle stopped there; feeds not saved are checked next time)"
        ) from exc


def _flush_if_last(cycle: Cycle) -> None:
    """The last feed is ready: write what waits now rather than when a timer says."""
    if cycle.unchecked.left == 0:
        for batches in _each(cycle):
            batches.flush()


def _each(cycle: Cycle) -> list[Batches[FeedUpdateRecord, storage.SaveResult]]:
    """Each of the cycle's Batches once (several outcomes share one), in a fixed order."""
    return list(dict.fromkeys(cycle.batches.values()))


async def _run_cycle(cycle: Cycle, feeds: list[FeedState]) -> list[FeedResult]:
    cycle.unchecked.left = len(feeds)
    async with cycle.client:
        tasks = [asyncio.ensure_future(_update_one(cycle, f)) for f in feeds]
        watcher = asyncio.ensure_future(_cancel_on_stop(cycle.stop, tasks))
        try:
            if tasks:
                # Back early only when a task raised (a failed write): the fetches
                # still in flight are abandoned and stay due, as on a stop.
                await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in tasks:
                    task.cancel()
                await asyncio.wait(tasks)
        finally:
            watcher.cancel()
            for batches in _each(cycle):
                batches.drop()
            cycle.writer.close()
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


def _batches(
    writer: Writer, save_many: SaveMany | None
) -> dict[str, Batches[FeedUpdateRecord, storage.SaveResult]]:
    """Which outcomes share transactions, and how: 304s by the hundred, posts by ten."""
    if save_many is None:
        return {}
    quiet = Batches(writer, save_many)
    return {**dict.fromkeys(BATCHED, quiet), "ok": Batches(writer, save_many, *STORES)}


def _vocabulary_getter(
    vocabulary: Vocabulary | LazyTopics | None,
) -> Callable[[], Vocabulary | None]:
    if vocabulary is None or isinstance(vocabulary, Vocabulary):
        return lambda: vocabulary
    return vocabulary.get


def update_feeds(
    registry: Registry,
    db_path: Path,
    *,
    due_only: bool = True,
    feed_url: str | None = None,
    allow_private_hosts: bool | None = None,
    clock: Clock = utc_now,
    transport: fetching.Transport | None = None,
    pool: VoicePool | None = None,
    stop: threading.Event | None = None,
    on_start: Callable[[int], None] = lambda total: None,
    on_result: Callable[[FeedResult], None] = lambda result: None,
    vocabulary: Vocabulary | LazyTopics | None = None,
    save: SaveUpdate = storage.save_update,
    save_many: SaveMany | None = storage.save_updates,
) -> UpdateResult:
    """Run one cycle. Raises only ConfigError/StoreError; feed failures are in the result.

    `save` writes one feed's outcome (storage.save_update); `save_many` writes
    the outcomes that store no posts (304s, unchanged bodies) and, in batches
    of their own, those that store posts (storage.save_updates), or None to
    send those through `save` too. A test
    passes ones that fail on cue, as a full disk would. `vocabulary` may be a
    LazyTopics, built only if a feed sends a body to parse.
    """
    settings = registry.settings
    if allow_private_hosts is not None:
        settings = replace(settings, allow_private_hosts=allow_private_hosts)
    limits = fetching.limits_from_settings(settings, __version__)
    conn = storage.connect(db_path)
    own_pool = pool is None
    pool = pool or make_pool(settings)
    try:
        now = to_iso(clock())
        stored_feeds.sync_feeds(conn, registry.feeds, now)
        if isinstance(vocabulary, Vocabulary):
            rows = [(t.slug, t.label, t.description) for t in vocabulary.topics]
            stored_feeds.sync_topics(conn, rows)
        elif vocabulary is not None:
            stored_feeds.sync_topics(conn, vocabulary.rows)
        upkeep.refresh_stored_content(conn, now)
        feeds = stored_feeds.select_feeds(
            conn, now, due_only=due_only and feed_url is None, url=feed_url
        )
        if feed_url is not None and not feeds:
            raise ConfigError(f"{feed_url}: not in the registry")
        if feed_url is not None and stored_feeds.is_paused(conn, feed_url):
            raise ConfigError(f"{feed_url}: paused by its member (paused: true in feeds.yaml)")
        on_start(len(feeds))
        storage.tune_for_batches(conn)
        writer = Writer(conn)
        cycle = Cycle(
            settings=settings,
            limits=limits,
            client=fetching.make_client(limits, transport=transport),
            pool=pool,
            writer=writer,
            save=save,
            batches=_batches(writer, save_many),
            hosts=HostGates(settings.per_host, settings.host_gap_seconds),
            slots=asyncio.Semaphore(settings.concurrency),
            clock=clock,
            stop=stop or threading.Event(),
            on_result=on_result,
            tokens=storage.unverified_tokens(conn),
            homes=verification.home_pages(conn),
            vocabulary=_vocabulary_getter(vocabulary),
        )
        results = loop.run(_run_cycle(cycle, feeds))
    except sqlite3.Error as exc:  # reads outside a transaction; writes raise StoreError
        raise StoreError(f"{db_path}: {exc}") from exc
    finally:
        if own_pool:
            pool.close()
        conn.close()
    return UpdateResult(tuple(results))
