"""The cycle's shared limits: politeness per host, the one writer thread, and batches.

Each holds state for one cycle only; the decisions about what to write live
in `records`, and these only decide when.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Generic, ParamSpec, TypeVar

from aggregator.errors import StoreError
from aggregator.fetching import host_key

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("voice")


class HostGates:
    """At most `per_host` connections per host, request starts `gap` seconds apart.

    A host is a registrable domain (see fetching.host_key): forty blogs on one
    platform are one server to be polite to.
    """

    def __init__(self, per_host: int, gap: float) -> None:
        self._gap = gap
        self._slots: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(per_host)
        )
        self._next_start: dict[str, float] = {}  # per host, monotonic

    @asynccontextmanager
    async def enter(self, url: str) -> AsyncIterator[None]:
        """Hold one of the host's connections, after its gap has passed."""
        key = host_key(url)
        slot = self._slots[key]
        async with slot:
            await self._keep_gap(key)
            yield

    async def _keep_gap(self, key: str) -> None:
        """The next start is reserved before sleeping, so queued feeds are staggered."""
        if self._gap <= 0:
            return
        now = time.monotonic()
        start = max(now, self._next_start.get(key, now))
        self._next_start[key] = start + self._gap
        if start > now:
            await asyncio.sleep(start - now)


class Writer:
    """Every database call of a cycle, in order, on one thread.

    sqlite releases the GIL while it works, so writes overlap with fetching
    instead of stalling the event loop. A write that has started always
    finishes, even if its feed is cancelled.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="voice-db")

    def run(
        self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[T]:
        """Queue `func`; cancelling the returned future leaves the call to run."""
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._thread, lambda: func(*args, **kwargs))
        awaited = asyncio.shield(call)
        call.add_done_callback(lambda done: _abandoned_error(done, awaited))
        return awaited

    def close(self) -> None:
        self._thread.shutdown(wait=True)


def _abandoned_error(call: asyncio.Future[T], awaited: asyncio.Future[T]) -> None:
    """The error of a call whose feed was abandoned has no one waiting for it.

    After a failed write (a full disk) the writes still queued fail alike:
    that StoreError is already the cycle's, so it is dropped here instead of
    logged as "never retrieved". Any other error is a bug and is logged.
    """
    if call.cancelled() or not awaited.cancelled():
        return  # the awaiting feed receives the outcome through the shield
    error = call.exception()
    if error is not None and not isinstance(error, StoreError):
        log.error("a write abandoned with its feed failed", exc_info=error)


class Batches(Generic[R, T]):
    """Records written many to one call of `save_many` on the writer (one transaction).

    A warm cycle's 500 304s cost a commit and a trip to the writer thread each:
    about a quarter of the cycle's CPU, and a cold cycle's commits of one
    feed wrote 2.7 times the pages a commit of ten does (issue 13). A record
    waits at most `wait` seconds, or until `most` are waiting, and its feed's
    task goes on only once it is written, so what a cycle reports is what it
    saved. A record whose feed was abandoned before its batch was written is
    left out (its feed stays due); a batch that fails fails every feed in it.
    """

    def __init__(
        self,
        writer: Writer,
        save_many: Callable[[sqlite3.Connection, Sequence[R]], list[T]],
        wait: float = 0.05,
        most: int = 100,
    ) -> None:
        self._writer, self._save_many = writer, save_many
        self._wait, self._most = wait, most
        self._waiting: list[tuple[R, asyncio.Future[T]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Future[None]] = set()

    def put(self, record: R) -> asyncio.Future[T]:
        """Queue `record`; the future is its result once its batch is written.

        Cancelling the future leaves the record out of its batch. The caller
        may `flush` straight after, when it knows nothing more is coming.
        """
        loop = asyncio.get_running_loop()
        written: asyncio.Future[T] = loop.create_future()
        self._waiting.append((record, written))
        if len(self._waiting) >= self._most:
            self.flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._wait, self.flush)
        return written

    def flush(self) -> None:
        """Send what is waiting to the writer now."""
        self._cancel_timer()
        batch = [(r, f) for r, f in self._waiting if not f.done()]
        self._waiting = []
        if batch:
            write = asyncio.ensure_future(self._write(batch))
            self._writes.add(write)
            write.add_done_callback(self._writes.discard)

    async def _write(self, batch: list[tuple[R, asyncio.Future[T]]]) -> None:
        try:
            saved = await self._writer.run(
                self._save_many, self._writer.conn, [r for r, _ in batch]
            )
        except asyncio.CancelledError:  # the loop is closing: nobody waits for these any more
            for _, written in batch:
                written.cancel()
            raise
        except Exception as exc:  # every feed of the batch gets it (a full disk: StoreError)
            for _, written in batch:
                if not written.done():
                    written.set_exception(exc)
            return
        for (_, written), result in zip(batch, saved, strict=True):
            if not written.done():
                written.set_result(result)

    def drop(self) -> None:
        """Forget what is waiting (the cycle is over: those feeds were abandoned)."""
        self._cancel_timer()
        self._waiting = []

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
