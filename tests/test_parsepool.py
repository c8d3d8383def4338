"""ParsePool: a hostile job kills only its worker, and the pool keeps serving."""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from aggregator.errors import InternalError, ParseError
from aggregator.models import FeedData, ParseJob
from aggregator.parsing.parse import parse_feed
from aggregator.parsing.pool import ParsePool

from .conftest import ROOT

JOB = ParseJob(
    body=(Path(__file__).parent / "data" / "parse" / "rss2.xml").read_bytes(),
    url="https://council.example/feed.xml",
    content_type="application/rss+xml",
    fetched_at="2024-06-01T00:00:00Z",
)


HANG_SECONDS = 60  # only a hang waits this long


def job_at(path: str) -> ParseJob:
    return dataclasses.replace(JOB, url=f"https://hostile.example/{path}")


# What a worker does with a job, chosen by the job's URL: module-level, so a
# forked worker can run it, and normal for any other URL.


def allocate_2gb(job: ParseJob, context: object = None) -> None:
    blocks = [bytearray(256 * 1024 * 1024) for _ in range(8)]
    raise AssertionError(f"allocated {len(blocks)} blocks")


def spin_forever(job: ParseJob, context: object = None) -> None:
    while True:
        pass


def sleep_forever(job: ParseJob, context: object = None) -> None:
    while True:
        time.sleep(60)


def exit_abruptly(job: ParseJob, context: object = None) -> None:
    os._exit(3)


def raise_a_bug(job: ParseJob, context: object = None) -> None:
    raise KeyError("a bug in parsing")


HOSTILE: dict[str, Callable[[ParseJob, object], None]] = {
    "memory": allocate_2gb,
    "cpu": spin_forever,
    "sleep": sleep_forever,
    "exit": exit_abruptly,
    "bug": raise_a_bug,
}


def hostile_or_normal(job: ParseJob, context: object = None) -> FeedData:
    HOSTILE.get(job.url.rsplit("/", 1)[-1], lambda job, context: None)(job, context)
    return parse_feed(job)


@pytest.mark.parametrize(
    ("path", "wall_seconds", "kind", "message"),
    [
        # Only "sleep" is about the wall clock; for the others it merely catches a
        # hang, since 1-2 s of CPU (RLIMIT_CPU counts whole seconds) can take many
        # seconds of wall time on a loaded machine.
        pytest.param(
            "memory",
            HANG_SECONDS,
            "worker_limit",
            "parsing needed more than 256 MB of memory",
            id="memory",
        ),
        pytest.param(
            "cpu", HANG_SECONDS, "worker_limit", "parsing needed more than 1 s of CPU", id="cpu"
        ),
        pytest.param("sleep", 2, "worker_timeout", "parsing took longer than 2 s", id="sleep"),
        pytest.param(
            "exit", HANG_SECONDS, "worker_crash", "the parse worker exited with code 3", id="exit"
        ),
    ],
)
def test_hostile_job_fails_alone_and_the_pool_recovers(
    path: str, wall_seconds: float, kind: str, message: str
) -> None:
    with ParsePool(
        workers=1, memory_mb=256, cpu_seconds=1, wall_seconds=wall_seconds, target=hostile_or_normal
    ) as pool:
        with pytest.raises(ParseError) as caught:
            pool.parse(job_at(path))
        assert (caught.value.kind, caught.value.message) == (kind, message)
        assert caught.value.url == job_at(path).url
        # the only worker slot serves a normal job next
        assert len(pool.parse(JOB).entries) == 4


@dataclasses.dataclass(frozen=True)
class Hold:
    """Events shared with forked workers: a held job has started; let it go."""

    started: Any
    release: Any


HOLD: Hold | None = None  # set by a test before its pool forks


def held_or_normal(job: ParseJob, context: object = None) -> FeedData:
    """A job at .../held keeps its worker busy until the test releases it."""
    if job.url.endswith("/held"):
        assert HOLD is not None
        HOLD.started.set()
        HOLD.release.wait(HANG_SECONDS)
    return parse_feed(job)


def test_normal_jobs_from_other_threads_finish_while_one_worker_hangs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fork = multiprocessing.get_context("fork")
    hold = Hold(started=fork.Event(), release=fork.Event())
    monkeypatch.setitem(globals(), "HOLD", hold)  # before the pool forks its workers
    with (
        ParsePool(workers=2, memory_mb=256, cpu_seconds=1, wall_seconds=HANG_SECONDS,
                  target=held_or_normal) as pool,
        ThreadPoolExecutor(4) as threads,
    ):  # fmt: skip
        held = threads.submit(pool.parse, job_at("held"))
        try:
            assert hold.started.wait(HANG_SECONDS), "the held job never reached a worker"
            normal = [threads.submit(pool.parse, JOB) for _ in range(20)]
            assert all(len(f.result(timeout=HANG_SECONDS).entries) == 4 for f in normal)
            assert not held.done()  # all served by the free worker while the other was busy
        finally:
            hold.release.set()
        assert len(held.result(timeout=HANG_SECONDS).entries) == 4
        assert len(pool.parse(JOB).entries) == 4


def test_parse_errors_from_parse_feed_come_back_as_parse_errors() -> None:
    page = ParseJob(body=b"<!DOCTYPE html><html><body>Hi</body></html>", url="https://x.example/",
                    content_type="text/html", fetched_at=JOB.fetched_at)  # fmt: skip
    with ParsePool(workers=1, memory_mb=256, cpu_seconds=1, wall_seconds=2) as pool:
        with pytest.raises(ParseError) as caught:
            pool.parse(page)
        assert caught.value.kind == "not_a_feed"
        assert caught.value.url == "https://x.example/"


def test_close_stops_the_workers_and_refuses_new_jobs() -> None:
    pool = ParsePool(workers=2, memory_mb=256, cpu_seconds=1, wall_seconds=2)
    pool.parse(JOB)
    pids = [slot.process.pid for slot in pool._slots if slot.process is not None]
    assert pids
    pool.close()
    for pid in pids:  # gone and reaped
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(RuntimeError, match="closed"):
        pool.parse(JOB)


def test_a_worker_exits_when_its_parent_goes_away() -> None:
    """End-of-file on the pipe stops the worker loop."""
    pool = ParsePool(workers=1, memory_mb=256, cpu_seconds=1, wall_seconds=2)
    pool.parse(JOB)
    slot = pool._slots[0]
    assert slot.process is not None and slot.conn is not None
    process = slot.process
    slot.conn.close()  # what the kernel does for a parent that dies
    process.join(HANG_SECONDS)
    assert process.exitcode == 0
    pool.close()


def test_a_bug_in_the_worker_is_an_internal_error_not_the_feeds_fault() -> None:
    with ParsePool(workers=1, memory_mb=256, wall_seconds=30, target=hostile_or_normal) as pool:
        with pytest.raises(InternalError) as caught:
            pool.parse(job_at("bug"))
        assert not isinstance(caught.value, ParseError)  # never reported as a bad feed
        assert caught.value.url == job_at("bug").url
        assert "KeyError" in str(caught.value)
        assert "raise_a_bug" in caught.value.detail  # the worker's traceback, for the log
        assert len(pool.parse(JOB).entries) == 4  # the worker lives on


class CountedContext:
    """A context that counts how often the parent pickles it (pickling happens there)."""

    pickled = 0

    def __init__(self, name: str) -> None:
        self.name = name

    def __getstate__(self) -> dict[str, str]:
        CountedContext.pickled += 1
        return {"name": self.name}


def title_from_context(job: ParseJob, context: CountedContext | None) -> FeedData:
    return dataclasses.replace(parse_feed(job), title=context.name if context else None)


def test_the_shared_context_reaches_each_worker_once_not_with_every_job() -> None:
    CountedContext.pickled = 0
    with ParsePool(workers=1, memory_mb=256, wall_seconds=30, target=title_from_context) as pool:
        pool.share("v1", CountedContext("first"))
        titles = [pool.parse(JOB).title for _ in range(5)]
        assert titles == ["first"] * 5 and CountedContext.pickled == 1
        pool.share("v1", CountedContext("same key"))  # an equal key sends nothing
        assert pool.parse(JOB).title == "first" and CountedContext.pickled == 1
        pool.share("v2", CountedContext("second"))
        assert [pool.parse(JOB).title for _ in range(3)] == ["second"] * 3
        assert CountedContext.pickled == 2


def test_a_context_shared_before_the_workers_fork_is_inherited_not_sent() -> None:
    CountedContext.pickled = 0
    pool = ParsePool(workers=2, memory_mb=256, wall_seconds=30, target=title_from_context)
    pool.share("v1", CountedContext("inherited"))
    with pool:
        assert [pool.parse(JOB).title for _ in range(4)] == ["inherited"] * 4
        assert CountedContext.pickled == 0
        pool.share("v2", CountedContext("sent"))  # the workers exist now: sent, once each
        assert [pool.parse(JOB).title for _ in range(4)] == ["sent"] * 4
        assert 1 <= CountedContext.pickled <= 2


def frozen_count(job: ParseJob, context: object = None) -> FeedData:
    """The worker's count of objects its garbage collector leaves alone, as the title."""
    return dataclasses.replace(parse_feed(JOB), title=str(gc.get_freeze_count()))


def test_workers_collect_garbage_without_touching_what_they_inherit() -> None:
    before = gc.get_freeze_count()
    with ParsePool(workers=2, memory_mb=256, wall_seconds=30, target=frozen_count) as pool:
        assert gc.get_freeze_count() == before  # the parent collects as before
        inherited = [int(pool.parse(JOB).title) for _ in range(4)]
    assert all(count > 10_000 for count in inherited), inherited  # modules, classes, ...


def held_until_released(job: ParseJob, context: object = None) -> FeedData:
    """Says it is busy, then waits until the file the job's URL names exists."""
    release = Path(job.url.removeprefix("file://"))
    print(f"busy {os.getpid()}", flush=True)
    deadline = time.monotonic() + HANG_SECONDS
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return parse_feed(JOB)


def parent_of_a_held_job(release: str) -> None:
    """Run by a child Python that the test kills while its only worker is busy."""
    with ParsePool(workers=1, memory_mb=256, wall_seconds=HANG_SECONDS,
                   target=held_until_released) as pool:  # fmt: skip
        pool.parse(dataclasses.replace(JOB, url=f"file://{release}"))


def test_a_worker_whose_parent_was_killed_mid_job_ends_quietly(tmp_path: Path) -> None:
    """Its answer has nowhere to go: no BrokenPipeError traceback on the shared stderr."""
    release = tmp_path / "release"
    code = f"from tests.test_parsepool import parent_of_a_held_job as p; p({str(release)!r})"
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert parent.stdout is not None
        assert select.select([parent.stdout], [], [], HANG_SECONDS)[0], "the job never started"
        worker = int(parent.stdout.readline().split()[1])
        parent.kill()
        parent.wait()
        release.touch()  # the worker finishes its job for a parent that is gone
        _, err = parent.communicate(timeout=HANG_SECONDS)  # until the worker closes stderr
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    deadline = time.monotonic() + HANG_SECONDS
    while Path(f"/proc/{worker}").exists() and "Z" not in _state(worker):
        assert time.monotonic() < deadline, "the worker never exited"
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"  # gone while we looked
