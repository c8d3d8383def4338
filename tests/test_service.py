"""`voice run` and `voice serve` as processes: fetch, serve, supervise Datasette, stop cleanly.

The supervision tests start Voice in a session of its own (the Voice helper),
so they can signal it by PID and, on failure, end everything it started.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from aggregator import service
from tests.support.feedserver import FeedServer, RequestRecord

from .conftest import ROOT, free_port, write_registry

HANG_SECONDS = 60.0  # a deadline only a hang reaches


def wait_for_posts(url: str, seconds: float) -> list[dict]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                rows = json.load(response)
            if rows:
                return rows
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"no posts at {url} within {seconds} s")


def wait_for(found: Callable[[], object], seconds: float = HANG_SECONDS) -> object:
    """`found()` once it is truthy; fails after `seconds`, which only a hang reaches."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"not found within {seconds} s")


def read(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def test_run_fetches_serves_releases_and_stops_on_sigterm(
    server: FeedServer, tmp_path: Path
) -> None:
    config = write_registry(tmp_path / "feeds.yaml", server.url("philrumens.atom"))
    db = tmp_path / "voice.db"
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aggregator",
            "run",
            "--allow-private-hosts",
            "--config",
            str(config),
            "--db",
            str(db),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        rows = wait_for_posts(
            f"http://127.0.0.1:{port}/voice/posts.json?_shape=array&region=South+East",
            HANG_SECONDS,
        )
        assert len(rows) == 7
        # The archive has posts and no release yet: one is made (release_every_days 30).
        (release,) = wait_for(lambda: list(tmp_path.glob("releases/*/datapackage.json")))
        research = wait_for(
            lambda: release.parent.name in read(f"http://127.0.0.1:{port}/research") or None
        )
        assert research
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "cycle done: 1 feeds checked" in out
    assert f"release {release.parent.name} written: 7 posts" in out
    assert "Traceback" not in out
    with socket.socket() as s:  # Datasette stopped with it
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_run_refuses_a_port_in_use_before_fetching(server: FeedServer, tmp_path: Path) -> None:
    config = write_registry(tmp_path / "feeds.yaml", server.url("philrumens.atom"))
    with socket.socket() as taken:  # the port Datasette wants is already in use
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "aggregator",
                "run",
                "--allow-private-hosts",
                "--config",
                str(config),
                "--db",
                str(tmp_path / "voice.db"),
                "--port",
                str(port),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not server.requests  # nothing was fetched


def test_a_signal_at_start_up_still_stops_run(server: FeedServer, tmp_path: Path) -> None:
    """SIGTERM while the first cycle, which starts at once, has its feed in flight."""
    requested, release = threading.Event(), threading.Event()

    def hold(record: RequestRecord) -> None:
        requested.set()
        release.wait(HANG_SECONDS)  # the first cycle cannot end before the signal
        return None  # then serve the file as usual

    server.route("philrumens.atom", hold)
    config = write_registry(tmp_path / "feeds.yaml", server.url("philrumens.atom"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aggregator",
            "run",
            "--no-serve",
            "--allow-private-hosts",
            "--config",
            str(config),
            "--db",
            str(tmp_path / "voice.db"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert requested.wait(HANG_SECONDS), "run never started its first cycle"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=HANG_SECONDS)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out  # stopped by its own handler, not killed by the signal
    assert "Traceback" not in out


# -- Datasette supervised: restarted with back-off, dying with its parent ----------


class Voice:
    """`python -m aggregator ARGS` in a session of its own, its output read as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self.ended = False  # every process holding its output has closed it
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, pattern: str, count: int = 1) -> list[re.Match[str]]:
        """The first `count` lines matching pattern, once they have been written."""
        regex = re.compile(pattern)

        def found() -> list[re.Match[str]]:
            return [m for m in map(regex.search, self.lines) if m][:count]

        with self._changed:
            self._changed.wait_for(lambda: len(found()) == count or self.ended, HANG_SECONDS)
            matches = found()
        assert len(matches) == count, f"no {count} x {pattern!r} in:\n{self.output}"
        return matches

    def finish(self) -> int:
        """Its exit code, once it and everything sharing its output have ended."""
        code = self.proc.wait(timeout=HANG_SECONDS)
        with self._changed:
            self._changed.wait_for(lambda: self.ended, HANG_SECONDS)
        return code

    def close(self) -> None:
        """After a failed test: end the session this test started, by its process group."""
        if group_members(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=HANG_SECONDS)


def wait_until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + HANG_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def processes() -> dict[int, tuple[int, int, str, str]]:
    """Every live process: pid -> (parent pid, process group, state, command line)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue  # ended while we looked
        if fields[0] != "Z":
            found[int(stat.parent.name)] = (int(fields[1]), int(fields[2]), fields[0], command)
    return found


def group_members(pgid: int) -> list[int]:
    return [pid for pid, (_, group, _, _) in processes().items() if group == pgid]


def datasette_of(parent: int) -> int | None:
    for pid, (ppid, _, _, command) in processes().items():
        if ppid == parent and "datasette serve" in command:
            return pid
    return None


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json", timeout=5):
            return True
    except OSError:
        return False


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def run_args(config: Path, db: Path, port: int) -> list[str]:
    return ["run", "--allow-private-hosts", "--config", str(config), "--db", str(db),
            "--port", str(port)]  # fmt: skip


def broken_site(root: Path) -> Path:
    """A site whose plugin cannot load, so Datasette exits as soon as it starts."""
    (root / "plugins").mkdir(parents=True)
    shutil.copy(ROOT / "metadata.yml", root / "metadata.yml")
    (root / "plugins" / "broken.py").write_text("raise RuntimeError('a broken plugin')\n")
    return root


@pytest.mark.parametrize(
    ("previous", "ran_for", "delay"),
    [
        pytest.param(None, 0.5, 1, id="first-exit"),
        pytest.param(1, 0.5, 2, id="doubles"),
        pytest.param(32, 3, 60, id="at-most-a-minute"),
        pytest.param(60, 3, 60, id="stays-at-a-minute"),
        pytest.param(60, service.STEADY_SECONDS, 1, id="reset-after-a-steady-run"),
    ],
)
def test_restart_delay(previous: float | None, ran_for: float, delay: float) -> None:
    assert service.restart_delay(previous, ran_for) == delay


def test_run_keeps_fetching_while_datasette_cannot_start(
    server: FeedServer, tmp_path: Path
) -> None:
    """Datasette exits at every start; Voice fetches anyway and retries with back-off."""
    config = write_registry(tmp_path / "feeds.yaml", server.url("philrumens.atom"))
    env = {**os.environ, "VOICE_HOME": str(broken_site(tmp_path / "site"))}
    voice = Voice(*run_args(config, tmp_path / "voice.db", free_port()), env=env)
    try:
        voice.wait_for(r"cycle done: 1 feeds checked")
        restarts = voice.wait_for(r"Datasette exited with code 1 .*again in (\d+) s", count=3)
        assert [int(m[1]) for m in restarts] == [1, 2, 4]  # backing off, not spinning
        voice.proc.send_signal(signal.SIGTERM)
        assert voice.finish() == 0, voice.output
    finally:
        voice.close()


def test_run_starts_datasette_again_when_it_is_killed(server: FeedServer, tmp_path: Path) -> None:
    config = write_registry(tmp_path / "feeds.yaml", server.url("philrumens.atom"))
    port = free_port()
    voice = Voice(*run_args(config, tmp_path / "voice.db", port))
    try:
        wait_until(lambda: answers(port), "Datasette answers")
        first = datasette_of(voice.pid)
        assert first is not None and os.getpgid(first) == voice.pid  # in Voice's group
        os.kill(first, signal.SIGKILL)
        voice.wait_for(r"Datasette exited with code -9 .*again in 1 s")
        wait_until(lambda: datasette_of(voice.pid) not in (None, first), "a new Datasette")
        wait_until(lambda: answers(port), "the new Datasette answers")
        voice.proc.send_signal(signal.SIGTERM)
        assert voice.finish() == 0, voice.output
    finally:
        voice.close()
    assert "Traceback" not in voice.output


def test_a_killed_run_takes_datasette_with_it(server: FeedServer, tmp_path: Path) -> None:
    """SIGKILL gives Voice no chance to stop Datasette: the kernel tells Datasette instead."""
    config = write_registry(tmp_path / "feeds.yaml", server.url("philrumens.atom"))
    db, port = tmp_path / "voice.db", free_port()
    first = Voice(*run_args(config, db, port))
    try:
        wait_until(lambda: answers(port), "Datasette answers")
        first.proc.send_signal(signal.SIGKILL)
        wait_until(lambda: not listening(port), "the port is free again")
        first.finish()
    finally:
        first.close()
    assert "Traceback" not in first.output  # parse workers and Datasette ended quietly
    second = Voice(*run_args(config, db, port))
    try:
        wait_until(lambda: answers(port), "the second run's Datasette answers")
        second.proc.send_signal(signal.SIGTERM)
        assert second.finish() == 0, second.output
    finally:
        second.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_serve_stops_datasette_with_it(tmp_path: Path, signum: int) -> None:
    port = free_port()
    voice = Voice("serve", "--db", str(tmp_path / "voice.db"), "--port", str(port))
    try:
        wait_until(lambda: answers(port), "Datasette answers")
        child = datasette_of(voice.pid)
        assert child is not None
        limits = Path(f"/proc/{child}/limits").read_text()
        memory = service.DATASETTE_MEMORY_MB * 1024 * 1024
        assert re.search(rf"Max address space\s+{memory}\s+{memory}\s+bytes", limits), limits
        voice.proc.send_signal(signum)
        wait_until(lambda: not listening(port), "the port is free again")
        wait_until(lambda: child not in processes(), "Datasette has ended")
        code = voice.finish()
    finally:
        voice.close()
    assert code == (0 if signum == signal.SIGTERM else -signal.SIGKILL), voice.output
    assert "Traceback" not in voice.output


def test_cycles_whose_writes_fail_wait_longer_each_time() -> None:
    """A full disk: each failed cycle doubles the wait (capped); one that writes resets it."""
    from datetime import UTC, datetime, timedelta

    from aggregator.service import WriteBackoff

    now = [datetime(2026, 12, 6, 9, 0, tzinfo=UTC)]
    backoff = WriteBackoff(cycle_minutes=5, clock=lambda: now[0])
    assert backoff.due()
    waits = []
    for _ in range(5):
        waits.append(backoff.failed() - now[0])
        assert not backoff.due()
        now[0] += waits[-1]
        assert backoff.due()
    assert waits == [timedelta(minutes=m) for m in (10, 20, 40, 60, 60)]
    backoff.succeeded()
    assert backoff.due() and backoff.failed() - now[0] == timedelta(minutes=10)


def test_a_cycle_that_cannot_write_leaves_the_database_alone_until_its_time(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from aggregator import service
    from aggregator.errors import StoreError

    config = write_registry(tmp_path / "feeds.yaml", server.url("philrumens.atom"))
    calls = []

    def failing(*args: object, **kwargs: object) -> None:
        calls.append(1)
        raise StoreError("cannot write to the database: database or disk is full")

    monkeypatch.setattr(service, "update_feeds", failing)
    now = [datetime(2026, 12, 6, 9, 0, tzinfo=UTC)]
    backoff = service.WriteBackoff(cycle_minutes=5, clock=lambda: now[0])
    run = functools.partial(
        service.run_cycle_logged, config, tmp_path / "voice.db",
        allow_private_hosts=True, pool=None, stop=threading.Event(), backoff=backoff,
    )  # fmt: skip
    run()
    run()  # the next scheduled cycle, five minutes on: still waiting
    assert calls == [1]
    now[0] = backoff.resume_at
    run()
    assert calls == [1, 1]
