"""Parse documents in worker processes, so a hostile document only kills its worker.

Each worker is a forked child with an address-space limit and a CPU-time limit
reset before every job; the parent waits at most `wall_seconds` for an answer.
When a worker runs out of memory, CPU or time, or dies, the parent kills it,
reaps it, raises ParseError with one of the kinds below and starts a fresh
worker the next time that slot is used:

    worker_limit    the job needed more memory or CPU time than allowed
    worker_timeout  no answer within wall_seconds
    worker_crash    the worker died some other way (signal, exit code)

Any other exception in the worker is a bug in Voice, not a fault of the feed:
it becomes InternalError, whose `detail` carries the worker's traceback for
the log.

What a worker does with a job is its `target(job, context)`; the default only
parses, and the update cycle gives one that also sketches and tags. The
context (the topic vocabulary) is never pickled with a job: a worker forked
after `share` inherits it, and a worker forked before receives it once, before
its next job.

`ParsePool.parse` is blocking and thread-safe: each call takes an idle worker
from a queue and gives it back when done. Workers exit when the parent goes
away (they see end-of-file on their pipe) and are daemonic besides.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import math
import os
import queue
import resource
import signal
import threading
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aggregator.errors import InternalError, ParseError
from aggregator.models import FeedData, ParseJob

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

C = TypeVar("C")
Target = Callable[[ParseJob, C | None], FeedData]
MB = 1024 * 1024


def parse_only(job: ParseJob, context: object = None) -> FeedData:
    """The default target, importing feedparser only when a document needs parsing.

    The pool imports it in the parent just before forking (see start), so
    workers begin with it loaded, and a cycle of 304s never loads it at all.
    """
    from aggregator.parsing.parse import parse_feed

    return parse_feed(job)


class ParsePool(Generic[C]):
    """A fixed number of parse workers shared by any number of threads."""

    def __init__(
        self,
        workers: int = 2,
        memory_mb: int = 768,
        cpu_seconds: int = 20,
        wall_seconds: float = 30,
        *,
        target: Target[C] = parse_only,
        preload: tuple[str, ...] = (),
    ) -> None:
        """`target` must be a module-level function; tests pass hostile ones.

        `preload` names modules the target imports when it runs: they are
        imported in the parent just before forking, as feedparser is, so every
        worker starts with them loaded and a process that never parses never
        loads them.
        """
        if workers < 1:
            raise ValueError("a parse pool needs at least one worker")
        self.memory_mb = memory_mb
        self.cpu_seconds = cpu_seconds
        self.wall_seconds = wall_seconds
        self._target = target
        self._preload = ("aggregator.parsing.parse", *preload)
        # Last in, first out: the worker that just answered takes the next job, so
        # a cycle with little to parse keeps one worker busy and the other asleep
        # (fewer copy-on-write faults and cold caches); both run when jobs overlap.
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._closed = threading.Event()
        self._started = False
        self._shared: tuple[object, C | None] = (None, None)  # (key, context)
        self._slots = [_Worker() for _ in range(workers)]
        for slot in self._slots:
            self._idle.put(slot)

    @functools.cached_property
    def _mp(self) -> Any:
        """multiprocessing's fork context, imported at the first fork: a cycle of 304s
        forks nothing, and importing it was 5 ms of every start."""
        import multiprocessing

        return multiprocessing.get_context("fork")

    def start(self) -> ParsePool[C]:
        """Fork every worker now, while the caller has few threads; later calls do nothing.

        Forking from a busy multi-threaded process can copy a lock another
        thread holds; only a replacement for a killed worker is forked later.
        """
        if self._started:
            return self
        for name in self._preload:  # loaded once here, shared by every fork
            importlib.import_module(name)
        for slot in self._slots:
            slot.start(self._mp, self._target, self.memory_mb, self.cpu_seconds, self._shared)
        self._started = True
        return self

    def share(self, key: object, context: C | None) -> None:
        """The context for jobs from now on: a worker forked later inherits it; one
        already running receives it once, before its next job.

        `key` names the context (a rules version): sharing an equal key again
        sends nothing. Call it between cycles, not while jobs are running.
        """
        self._shared = (key, context)

    def __enter__(self) -> ParsePool[C]:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def parse(self, job: ParseJob) -> FeedData:
        """parse_feed(job) in a worker; raises ParseError, never hangs past wall_seconds."""
        worker = self._take()
        try:
            worker.start(self._mp, self._target, self.memory_mb, self.cpu_seconds, self._shared)
            return self._run(worker, job)
        finally:
            if self._closed.is_set():
                worker.stop()
            self._idle.put(worker)

    def close(self) -> None:
        """Stop idle workers now; busy ones stop when their job ends."""
        self._closed.set()
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return

    def _take(self) -> _Worker:
        while not self._closed.is_set():
            try:
                return self._idle.get(timeout=0.5)
            except queue.Empty:
                continue
        raise RuntimeError("the parse pool is closed")

    def _run(self, worker: _Worker, job: ParseJob) -> FeedData:
        conn = worker.conn
        assert conn is not None
        key, context = self._shared
        try:
            if worker.context_key != key:
                conn.send(("context", context))
                worker.context_key = key
            conn.send(("job", job))
            answered = conn.poll(self.wall_seconds)
            reply = conn.recv() if answered else None
        except (EOFError, OSError):
            answered, reply = True, None
        if not answered:
            worker.kill()
            raise ParseError(
                "worker_timeout", f"parsing took longer than {self.wall_seconds:g} s", url=job.url
            )
        if reply is None:  # the worker died
            exitcode = worker.kill()
            raise self._death(exitcode, job.url)
        status, payload = reply
        if status == "ok":
            return payload
        if status == "bug":
            name, detail = payload
            message = f"a bug in Voice while parsing ({name})"
            raise InternalError(message, url=job.url, detail=detail)
        kind, message = payload
        if status == "limit":
            worker.kill()
            message = f"parsing needed more than {self.memory_mb} MB of memory"
        raise ParseError(kind, message, url=job.url)

    def _death(self, exitcode: int | None, url: str) -> ParseError:
        if exitcode == -signal.SIGXCPU:
            return ParseError(
                "worker_limit", f"parsing needed more than {self.cpu_seconds} s of CPU", url=url
            )
        if exitcode is not None and exitcode < 0:
            name = signal.Signals(-exitcode).name
            return ParseError("worker_crash", f"the parse worker was killed by {name}", url=url)
        return ParseError("worker_crash", f"the parse worker exited with code {exitcode}", url=url)


class _Worker:
    """One slot of the pool: a process and the parent's end of its pipe, or nothing yet."""

    def __init__(self) -> None:
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self.context_key: object = None  # the shared context this process holds

    def start(
        self,
        mp: Any,
        target: Target[Any],
        memory_mb: int,
        cpu_seconds: int,
        shared: tuple[object, Any],
    ) -> None:
        """Fork the worker unless it is alive; it inherits the `shared` (key, context)."""
        if self.process is not None and self.process.is_alive():
            return
        self.kill()
        key, context = shared
        parent_end, child_end = mp.Pipe()
        process = mp.Process(
            target=_serve,
            args=(child_end, parent_end, target, memory_mb, cpu_seconds, context),
            name="voice-parse",
            daemon=True,
        )
        # The worker's garbage collector leaves alone what it inherits (modules,
        # the vocabulary): it would touch every inherited object at each full
        # collection, copying its page, a few per cent of a cold cycle's CPU.
        # The parent collects as before.
        gc.freeze()
        try:
            process.start()
        finally:
            gc.unfreeze()
        child_end.close()
        self.process, self.conn = process, parent_end
        self.context_key = key

    def stop(self) -> None:
        """Ask the worker to exit; kill it if it does not within a second."""
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        if self.process is not None:
            self.process.join(1)
        self.kill()

    def kill(self) -> int | None:
        """SIGKILL and reap the worker; its exit code, or None if there was none."""
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if conn is not None:
            conn.close()
        if process is None:
            return None
        if process.is_alive():
            process.kill()
        process.join()
        exitcode = process.exitcode
        process.close()
        return exitcode


# -- inside the worker process ------------------------------------------------------


def _serve(
    conn: Connection,
    parent_end: Connection,
    target: Target[Any],
    memory_mb: int,
    cpu_seconds: int,
    context: object,
) -> None:
    """The worker loop: one job in, one reply out, until None or end-of-file.

    A parent that is gone (end-of-file, or a broken pipe for the answer to a
    job it was killed waiting for) ends the worker quietly: nobody is left to
    read a traceback, and it would land on the terminal the parent shared.
    """
    parent_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _limit(resource.RLIMIT_AS, _address_space() + memory_mb * MB)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        what, value = message
        if what == "context":
            context = value
            continue
        used = resource.getrusage(resource.RUSAGE_SELF)
        _limit(resource.RLIMIT_CPU, math.ceil(used.ru_utime + used.ru_stime) + cpu_seconds)
        answer = _answer(target, value, context)
        try:
            conn.send(answer)
        except OSError:  # BrokenPipeError, ConnectionResetError: the parent is gone
            return


def _answer(target: Target[Any], job: ParseJob, context: object) -> tuple[str, Any]:
    try:
        return "ok", target(job, context)
    except ParseError as error:  # exceptions with keyword arguments do not pickle
        return "error", (error.kind, error.message)
    except MemoryError:
        return "limit", ("worker_limit", "parsing needed more memory than allowed")
    except Exception as error:  # a bug in Voice: the parent logs the traceback
        return "bug", (type(error).__name__, traceback.format_exc())


def _limit(which: int, soft: int) -> None:
    """Lower a soft limit; the hard limit stays, so later jobs can get a new budget."""
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def _address_space() -> int:
    """Bytes of address space already mapped (inherited from the parent at fork).

    The limit is this plus memory_mb: a parent with many threads has reserved
    stacks and malloc arenas that the child inherits but never touches, and a
    flat limit would leave a worker forked from it no room at all.
    """
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
