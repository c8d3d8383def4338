"""ParsePool: a hostile job kills only its worker, and the pool keeps serving."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.models import FeedData, ParseJob
from aggregator.parsing.parse import parse_feed
from aggregator.parsing.pool import ParsePool

JOB = ParseJob(
    body=(Path(__file__).parent / "data" / "parse" / "rss2.xml").read_bytes(),
    url="https://council.example/feed.xml",
    content_type="application/rss+xml",
    fetched_at="2024-06-01T00:00:00Z",
)


def job_at(path: str) -> ParseJob:
    return dataclasses.replace(JOB, url=f"https://hostile.example/{path}")


# What a worker does with a job, chosen by the job's URL: module-level, so a
# forked worker can run it, and normal for any other URL.


def allocate_2gb(job: ParseJob) -> None:
    blocks = [bytearray(256 * 1024 * 1024) for _ in range(8)]
    raise AssertionError(f"allocated {len(blocks)} blocks")


def spin_forever(job: ParseJob) -> None:
    while True:
        pass


def sleep_forever(job: ParseJob) -> None:
    while True:
        time.sleep(60)


def exit_abruptly(job: ParseJob) -> None:
    os._exit(3)


def raise_a_bug(job: ParseJob) -> None:
    raise KeyError("a bug in parsing")


HOSTILE: dict[str, Callable[[ParseJob], None]] = {
    "memory": allocate_2gb,
    "cpu": spin_forever,
    "sleep": sleep_forever,
    "exit": exit_abruptly,
    "bug": raise_a_bug,
}


def hostile_or_normal(job: ParseJob) -> FeedData:
    HOSTILE.get(job.url.rsplit("/", 1)[-1], lambda job: None)(job)
    return parse_feed(job)


@pytest.mark.parametrize(
    ("path", "wall_seconds", "kind", "message"),
    [
        pytest.param(
            "memory", 2, "worker_limit", "parsing needed more than 256 MB of memory", id="memory"
        ),
        # RLIMIT_CPU counts whole seconds, so the CPU budget is 1-2 s: give the wall clock 4
        pytest.param("cpu", 4, "worker_limit", "parsing needed more than 1 s of CPU", id="cpu"),
        pytest.param("sleep", 2, "worker_timeout", "parsing took longer than 2 s", id="sleep"),
        pytest.param("exit", 2, "worker_crash", "the parse worker exited with code 3", id="exit"),
        pytest.param("bug", 2, "malformed", "parser failed: KeyError", id="bug"),
    ],
)
def test_hostile_job_fails_alone_and_the_pool_recovers(
    path: str, wall_seconds: float, kind: str, message: str
) -> None:
    with ParsePool(
        workers=1, memory_mb=256, cpu_seconds=1, wall_seconds=wall_seconds, target=hostile_or_normal
    ) as pool:
        started = time.monotonic()
        with pytest.raises(ParseError) as caught:
            pool.parse(job_at(path))
        assert (caught.value.kind, caught.value.message) == (kind, message)
        assert caught.value.url == job_at(path).url
        assert time.monotonic() - started < wall_seconds + 1
        # the only worker slot serves a normal job next
        assert len(pool.parse(JOB).entries) == 4


def test_normal_jobs_from_other_threads_finish_while_one_worker_hangs() -> None:
    with (
        ParsePool(workers=2, memory_mb=256, cpu_seconds=1, wall_seconds=2,
                  target=hostile_or_normal) as pool,
        ThreadPoolExecutor(4) as threads,
    ):  # fmt: skip
        hanging = threads.submit(pool.parse, job_at("sleep"))
        started = time.monotonic()
        normal = [threads.submit(pool.parse, JOB) for _ in range(20)]
        assert all(len(future.result(timeout=5).entries) == 4 for future in normal)
        assert time.monotonic() - started < 2  # served by the free worker, not after the timeout
        with pytest.raises(ParseError, match="longer than 2 s"):
            hanging.result(timeout=5)
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
    process.join(2)
    assert process.exitcode == 0
    pool.close()
