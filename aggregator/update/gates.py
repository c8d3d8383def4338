"""The cycle's shared limits: politeness per host, and the one writer thread.

Both hold state for one cycle only; the decisions about what to write live
in `records`, and these only decide when.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

from aggregator.errors import StoreError
from aggregator.fetching import host_key

P = ParamSpec("P")
T = TypeVar("T")
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
