"""Feeds are written many to a transaction (issue 13), losing nothing.

A warm cycle wrote each feed's 304 in a transaction of its own, through a trip
to the writer thread: about a quarter of its CPU; a cold cycle's commits of
one feed each wrote 2.7 times the pages a commit of ten does. Batches
(update/gates.py) write them together; what a cycle reports must still be
exactly what it saved, a failed batch must fail its feeds and stop the
cycle as any failed write does, and an abandoned feed's record must not be
written.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator import storage
from aggregator.errors import StoreError
from aggregator.parsing.pool import ParsePool
from aggregator.schedule import to_iso
from aggregator.storage.connection import WRITER_CACHE_KIB
from aggregator.update import FeedResult, update_feeds
from aggregator.update import cycle as cycle_module
from aggregator.update.gates import Batches, Writer
from tests.support.feedserver import FeedServer

from .conftest import registry_for, rows
from .test_full_disk import write_blogs

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
BLOGS = 30


class Recorder:
    """save_many that records each batch, and can fail the `fail_at`-th call."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_at = fail_at

    def __call__(self, conn: sqlite3.Connection, recs: Sequence[str]) -> list[str]:
        self.batches.append(list(recs))
        if self.fail_at is not None and len(self.batches) == self.fail_at:
            raise StoreError("cannot write to the database: database or disk is full")
        return [f"saved {r}" for r in recs]


async def saving(batches: Batches[str, str], records: list[str]) -> list[object]:
    return await asyncio.gather(*(batches.put(r) for r in records), return_exceptions=True)


@asynccontextmanager
async def in_memory(
    save_many: Recorder, wait: float, most: int
) -> AsyncIterator[Batches[str, str]]:
    """Batches on a writer thread of their own (the records never reach its database)."""
    writer = Writer(sqlite3.connect(":memory:", check_same_thread=False))
    try:
        yield Batches(writer, save_many, wait=wait, most=most)
    finally:
        writer.close()


def run_batches(save_many: Recorder, records: list[str], most: int) -> list[object]:
    async def main() -> list[object]:
        async with in_memory(save_many, wait=0.01, most=most) as batches:
            return await saving(batches, records)

    return asyncio.run(main())


def test_records_are_written_together_and_each_gets_its_own_result() -> None:
    save_many = Recorder()
    records = [f"feed {n}" for n in range(25)]
    assert run_batches(save_many, records, most=10) == [f"saved {r}" for r in records]
    assert [len(b) for b in save_many.batches] == [10, 10, 5]  # the last by the timer
    assert [r for b in save_many.batches for r in b] == records


def test_a_failed_batch_fails_every_record_in_it_and_no_other() -> None:
    save_many = Recorder(fail_at=2)
    got = run_batches(save_many, [f"feed {n}" for n in range(25)], most=10)
    assert got[:10] == [f"saved feed {n}" for n in range(10)]
    assert all(isinstance(e, StoreError) for e in got[10:20])
    assert got[20:] == [f"saved feed {n}" for n in range(20, 25)]


def test_an_abandoned_record_is_not_written() -> None:
    save_many = Recorder()

    async def main() -> list[object]:
        async with in_memory(save_many, wait=0.05, most=100) as batches:
            kept = batches.put("kept")
            abandoned = batches.put("abandoned")
            await asyncio.sleep(0)  # both waiting
            abandoned.cancel()
            return await asyncio.gather(kept, abandoned, return_exceptions=True)

    got = asyncio.run(main())
    assert got[0] == "saved kept" and isinstance(got[1], asyncio.CancelledError)
    assert save_many.batches == [["kept"]]


def warm(server: FeedServer, tmp_path: Path, pool: ParsePool) -> tuple[Path, list[str]]:
    urls = write_blogs(tmp_path / "site", server, BLOGS, posts=2, words=30)
    db = tmp_path / "voice.db"
    update_feeds(registry_for(*urls), db, clock=lambda: NOW, pool=pool)  # cold: stores posts
    return db, urls


def test_a_warm_cycle_writes_its_304s_in_a_few_transactions_and_reports_what_it_saved(
    server: FeedServer, tmp_path: Path, pool: ParsePool
) -> None:
    db, urls = warm(server, tmp_path, pool)
    sizes: list[int] = []

    def counted(conn: sqlite3.Connection, recs: Sequence) -> list[storage.SaveResult]:
        sizes.append(len(recs))
        return storage.save_updates(conn, recs)

    before = rows(db, "SELECT count(*) FROM fetches")[0][0]
    reported: list[FeedResult] = []
    result = update_feeds(
        registry_for(*urls), db, clock=lambda: NOW, pool=pool, due_only=False,
        on_result=reported.append, save_many=counted,
    )  # fmt: skip
    assert result.count("not_modified") == BLOGS
    assert sum(sizes) == BLOGS and len(sizes) < BLOGS  # batched, none left out
    logged = rows(db, "SELECT outcome, count(*) FROM fetches WHERE id > ? GROUP BY 1", before)
    assert logged == [("not_modified", BLOGS)]
    assert sorted(r.url for r in reported) == sorted(urls)
    checked = rows(db, "SELECT count(*) FROM feeds WHERE last_checked_at = ?", to_iso(NOW))
    assert checked == [(BLOGS,)]  # every feed's state written with its log row


def test_a_failed_batch_stops_the_cycle_and_its_feeds_stay_unsaved(
    server: FeedServer, tmp_path: Path, pool: ParsePool
) -> None:
    db, urls = warm(server, tmp_path, pool)

    def full(conn: sqlite3.Connection, recs: Sequence) -> list[storage.SaveResult]:
        raise StoreError("cannot write to the database: database or disk is full")

    before = rows(db, "SELECT max(id) FROM fetches")[0][0]
    reported: list[FeedResult] = []
    with pytest.raises(StoreError, match="disk is full"):
        update_feeds(
            registry_for(*urls), db, clock=lambda: NOW, pool=pool, due_only=False,
            stop=threading.Event(), on_result=reported.append, save_many=full,
        )  # fmt: skip
    assert reported == []  # nothing reported that was not saved
    assert rows(db, "SELECT count(*) FROM fetches WHERE id > ?", before)[0][0] == 0


def test_a_flush_after_the_last_record_writes_it_at_once_with_those_waiting() -> None:
    save_many = Recorder()

    async def main() -> list[str]:
        async with in_memory(save_many, wait=600, most=100) as batches:
            waiting = [batches.put(r) for r in ("a", "b")]
            await asyncio.sleep(0)  # both waiting for a timer that would take ten minutes
            last = batches.put("c")
            batches.flush()  # the caller knows nothing more is coming
            return await asyncio.wait_for(asyncio.gather(*waiting, last), HANG)

    assert asyncio.run(main()) == ["saved a", "saved b", "saved c"]
    assert save_many.batches == [["a", "b", "c"]]


HANG = 120  # seconds: only a hang takes this long


def test_a_cold_cycle_writes_its_posts_in_batches_and_flushes_with_its_last_feed(
    server: FeedServer, tmp_path: Path, pool: ParsePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of parsed feeds (docs/design.md), on a connection set up for them.

    Their timer is made ten minutes long and their size unlimited, so the
    cycle ends in time only if its last feed writes what waits.
    """
    monkeypatch.setattr(cycle_module, "STORES", (600.0, 1000))
    urls = write_blogs(tmp_path / "site", server, BLOGS, posts=2, words=30)
    db = tmp_path / "voice.db"
    batches: list[list[str]] = []
    settings: list[tuple[int, int]] = []

    def counted(conn: sqlite3.Connection, recs: Sequence) -> list[storage.SaveResult]:
        batches.append([r.outcome for r in recs])
        settings.append(
            (conn.execute("PRAGMA temp_store").fetchone()[0],
             conn.execute("PRAGMA main.cache_size").fetchone()[0])
        )  # fmt: skip
        return storage.save_updates(conn, recs)

    cold = threading.Thread(
        target=lambda: update_feeds(
            registry_for(*urls), db, clock=lambda: NOW, pool=pool, save_many=counted
        ),
        daemon=True,  # a hang is reported below, not waited out at exit
    )
    cold.start()
    cold.join(HANG)
    assert not cold.is_alive(), "the cycle waited for its batch's timer"
    assert batches == [["ok"] * BLOGS]  # one transaction for every feed that stored posts
    assert rows(db, "SELECT count(*) FROM posts") == [(BLOGS * 2,)]
    assert set(settings) == {(2, -WRITER_CACHE_KIB)}  # temporary files in memory
    conn = storage.connect(db)  # any other connection, a maintenance command's
    try:
        assert conn.execute("PRAGMA temp_store").fetchone()[0] == 0  # as SQLite was built
    finally:
        conn.close()
