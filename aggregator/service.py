"""`voice run` and `voice serve`: the scheduler beside Datasette.

APScheduler runs fetch cycles in this process (one at a time, coalesced, so a
slow cycle never piles up); Datasette runs as a child process, reading the
same WAL database. SIGTERM or Ctrl-C stops new feeds from starting, lets the
write in progress commit, and stops Datasette.

Datasette is supervised: it runs under an address-space limit, the kernel
sends it SIGTERM when the Voice process that started it dies however it dies
(SIGKILL included), and `voice run` starts it again, with back-off, whenever
it exits, so a crashed or memory-starved Datasette never stops the fetcher.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from aggregator import storage
from aggregator.errors import AggregatorError, ConfigError, StoreError
from aggregator.registry.feeds import load_registry
from aggregator.registry.site import Site, find_site, metadata_for
from aggregator.registry.topics import topics_for_registry
from aggregator.releasing import ReleaseRunner
from aggregator.update import make_pool, update_feeds
from aggregator.update.cycle import VoicePool

log = logging.getLogger("voice")

# Serving pages takes Datasette about 300 MB of address space (thread stacks and
# malloc arenas included); the rest is room for big result pages. Past it a
# query fails with "out of memory", or Datasette dies and is started again.
DATASETTE_MEMORY_MB = 1536
FIRST_DELAY_SECONDS = 1.0  # before starting a Datasette that exited, doubling...
MAX_DELAY_SECONDS = 60.0  # ...up to a minute
STEADY_SECONDS = 60.0  # a Datasette that ran this long had started fine: start over at 1 s
STATIC_MOUNT = "voice-static"  # site.static is served at /voice-static/ (templates link it)
FORM_ENV = ("VOICE_DB", "VOICE_CONFIG", "VOICE_ALLOW_PRIVATE_HOSTS")  # see datasette_env
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@contextmanager
def datasette_command(
    db_path: Path, site: Site, *, host: str = "127.0.0.1", port: int = 8001
) -> Iterator[list[str]]:
    """Datasette on the database, mutable (never -i) so it sees the fetcher's writes.

    The metadata is metadata.yml made to fit this database's name, written to a
    temporary file that lives as long as the command is in use.
    """
    metadata = metadata_for(site, db_path.stem)
    with tempfile.TemporaryDirectory(prefix="voice-") as folder:
        metadata_path = Path(folder) / "metadata.json"
        metadata_path.write_text(json.dumps(metadata), encoding="utf-8")
        cmd = [sys.executable, "-m", "datasette", "serve", str(db_path), "--host", host]
        cmd += ["--port", str(port), "--setting", "sql_time_limit_ms", "3000"]
        # At 100,000 posts Datasette's facet suggestions (a query per column on every
        # page) cost seconds; the useful facets are configured in metadata.yml.
        cmd += ["--setting", "facet_time_limit_ms", "1000", "--setting", "suggest_facets", "off"]
        cmd += ["--metadata", str(metadata_path), "--plugins-dir", str(site.plugins)]
        # Templates and static files are optional: a site without them gets Datasette's own.
        if site.templates.is_dir():
            cmd += ["--template-dir", str(site.templates)]
        if site.static.is_dir():
            cmd += ["--static", f"{STATIC_MOUNT}:{site.static}"]
        yield cmd


def datasette_env(
    db_path: Path, config: Path | None = None, *, allow_private_hosts: bool | None = None
) -> dict[str, str]:
    """This process's environment plus where the web form's commands find Voice's files.

    The /connect pages (plugins/voice_connect.py) run `voice try` and `voice
    submissions new` as subprocesses with these: VOICE_DB and VOICE_CONFIG,
    absolute paths, and VOICE_ALLOW_PRIVATE_HOSTS=1 only when this instance
    fetches from private addresses, so the form's trial fetches obey the same
    address guard as the fetcher.
    """
    env = {k: v for k, v in os.environ.items() if k not in FORM_ENV}
    env["VOICE_DB"] = str(db_path.resolve())
    if config is not None:
        env["VOICE_CONFIG"] = str(config.resolve())
    if allow_private_hosts:
        env["VOICE_ALLOW_PRIVATE_HOSTS"] = "1"
    return env


def ensure_port_free(host: str, port: int) -> None:
    """Fail before any fetching when Datasette could not listen: a one-line reason."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot serve on {host}:{port} ({exc.strerror}): another program listens "
                "there, perhaps an earlier voice run or voice serve; stop it (ss -ltnp "
                f"'sport = :{port}' names it) or pass --port"
            ) from exc


def prepare_db(db_path: Path) -> None:
    """Create and migrate the database so Datasette starts on the current schema."""
    storage.connect(db_path).close()


def restart_delay(previous: float | None, ran_for: float) -> float:
    """Seconds to wait before starting again a Datasette that ran `ran_for` seconds.

    1 s, doubling to a minute, so one that can never start costs a start a
    minute, not a busy loop; back to 1 s after a run of STEADY_SECONDS.
    """
    if previous is None or ran_for >= STEADY_SECONDS:
        return FIRST_DELAY_SECONDS
    return min(previous * 2, MAX_DELAY_SECONDS)


def start_datasette(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Datasette in this process group, with a memory limit, to die when this thread dies.

    PR_SET_PDEATHSIG fires when the thread that forked the child ends, so call
    this from the main thread. A parent gone before the child set it is
    caught by comparing the parent's PID.
    """
    parent, memory = os.getpid(), DATASETTE_MEMORY_MB * 1024 * 1024
    prctl = _prctl()

    def in_child() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return subprocess.Popen(cmd, preexec_fn=in_child, env=env)


def _prctl() -> Callable[[int, int], int] | None:
    """Linux's prctl(2), looked up before forking; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    prctl: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


def stop_datasette(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s; reaped either way."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class SupervisedDatasette:
    """Datasette, started again after restart_delay whenever it exits; one log line each time.

    `tend` does all the work and is called from the main thread's loop.
    """

    def __init__(
        self,
        cmd: list[str],
        clock: Callable[[], float] = time.monotonic,
        env: dict[str, str] | None = None,
    ) -> None:
        self._cmd = cmd
        self._env = env
        self._clock = clock or (lambda: datetime.now(UTC))
        self._child: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._delay: float | None = None
        self._due = clock()  # when to start it next

    def tend(self) -> None:
        now = self._clock()
        if self._child is None:
            if now >= self._due:
                try:
                    self._child, self._started = start_datasette(self._cmd, self._env), now
                except (OSError, subprocess.SubprocessError) as exc:  # e.g. no memory to fork
                    self._back_off(now, 0.0, f"could not start ({exc})")
            return
        code = self._child.poll()
        if code is not None:
            self._child = None
            self._back_off(now, now - self._started, f"exited with code {code}")

    def _back_off(self, now: float, ran: float, what: str) -> None:
        self._delay = restart_delay(self._delay, ran)
        self._due = now + self._delay
        log.error("Datasette %s after %.0f s; starting it again in %g s", what, ran, self._delay)

    def stop(self) -> None:
        if self._child is not None:
            stop_datasette(self._child)
            self._child = None


def serve(db_path: Path, *, host: str, port: int, config: Path | None = None) -> int:
    """Datasette until it exits or this process gets SIGTERM/SIGINT, which it passes on.

    Returns Datasette's exit code, or 0 after a requested stop.
    """
    site = find_site()
    ensure_port_free(host, port)
    prepare_db(db_path)
    stop = threading.Event()
    with datasette_command(db_path, site, host=host, port=port) as cmd, _stop_signals(stop):
        child = start_datasette(cmd, datasette_env(db_path, config))
        try:
            while child.poll() is None and not stop.wait(0.5):
                pass
        finally:
            stop_datasette(child)
    return 0 if stop.is_set() else child.returncode


class WriteBackoff:
    """Cycles whose writes fail (a full disk) leave the database alone for longer each time.

    A failed write ends its cycle at once, but every cycle would still fetch a
    few feeds before failing again; after `n` such cycles in a row the next
    one waits `cycle_minutes * 2**n` minutes, at most MAX_MINUTES, and one
    cycle that writes brings the schedule back to normal.
    """

    MAX_MINUTES = 60

    def __init__(self, cycle_minutes: int, clock: Callable[[], datetime] | None = None) -> None:
        self.cycle_minutes = cycle_minutes
        self.failures = 0
        self.resume_at: datetime | None = None
        self._clock = clock or (lambda: datetime.now(UTC))

    def due(self) -> bool:
        return self.resume_at is None or self._clock() >= self.resume_at

    def failed(self) -> datetime:
        self.failures += 1
        wait = min(self.cycle_minutes * 2**self.failures, self.MAX_MINUTES)
        self.resume_at = self._clock() + timedelta(minutes=wait)
        return self.resume_at

    def succeeded(self) -> None:
        self.failures, self.resume_at = 0, None


def run_cycle_logged(
    config: Path,
    db_path: Path,
    *,
    allow_private_hosts: bool | None,
    pool: VoicePool,
    stop: threading.Event,
    backoff: WriteBackoff | None = None,
    releases: ReleaseRunner | None = None,
) -> None:
    """One scheduled cycle. Re-reads feeds.yaml so edits apply without a restart.

    After a cycle that succeeded, a research release is started if one is due
    (`release_every_days`); it runs beside the next cycles.
    """
    if backoff is not None and not backoff.due():
        return  # the reason was logged when the writes failed
    try:
        registry = load_registry(config)
        result = update_feeds(
            registry,
            db_path,
            allow_private_hosts=allow_private_hosts,
            pool=pool,
            stop=stop,
            vocabulary=topics_for_registry(config),
        )
    except StoreError as exc:
        resume = backoff.failed() if backoff is not None else None
        when = f"; next cycle at {resume:%H:%M} UTC" if resume else ""
        log.error("cycle stopped: %s%s", exc, when)
        return
    except AggregatorError as exc:
        log.error("cycle skipped: %s", exc)
        return
    if backoff is not None:
        backoff.succeeded()
    log.info("cycle done: %s", result.summary())
    if releases is not None and not stop.is_set():
        settings = registry.settings
        releases.after_cycle(settings.release_every_days, settings.releases_kept)


def run(
    config: Path,
    db_path: Path,
    *,
    allow_private_hosts: bool | None,
    serve_datasette: bool = True,
    host: str = "127.0.0.1",
    port: int = 8001,
    on_ready: Callable[[], None] = lambda: None,
) -> int:
    """Run cycles every `cycle_minutes` beside Datasette until SIGTERM/SIGINT.

    Returns 0 after a requested stop. The main thread only waits for a stop
    and tends Datasette; cycles run on the scheduler's thread, so a signal at
    any moment is handled the same way.
    """
    registry = load_registry(config)  # fail fast on a bad registry
    settings = registry.settings
    site = find_site() if serve_datasette else None
    if serve_datasette:
        ensure_port_free(host, port)
    prepare_db(db_path)
    stop = threading.Event()
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    datasette: SupervisedDatasette | None = None
    releases = ReleaseRunner(db_path, lambda: datetime.now(UTC), stop)
    with _stop_signals(stop), make_pool(settings) as pool, ExitStack() as stack:
        if site is not None:
            cmd = stack.enter_context(datasette_command(db_path, site, host=host, port=port))
            env = datasette_env(db_path, config, allow_private_hosts=allow_private_hosts)
            datasette = SupervisedDatasette(cmd, env=env)
            stack.callback(datasette.stop)
            log.info("Voice: http://%s:%d/ (data: /%s)", host, port, db_path.stem)
        scheduler.add_job(
            run_cycle_logged,
            "interval",
            minutes=settings.cycle_minutes,
            next_run_time=datetime.now(UTC),
            args=[config, db_path],
            kwargs={
                "allow_private_hosts": allow_private_hosts,
                "pool": pool,
                "stop": stop,
                "backoff": WriteBackoff(settings.cycle_minutes),
                "releases": releases,
            },
            id="fetch-cycle",
        )
        scheduler.start()
        on_ready()
        while True:
            if datasette is not None:
                datasette.tend()
            if stop.wait(0.5):
                break
        log.info("stopping: finishing the write in progress")
        scheduler.shutdown(wait=True)  # the running cycle sees `stop` and ends soon
        releases.join()  # a release in progress stops at its next step and leaves nothing
    return 0


@contextmanager
def _stop_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM only set `stop`; the main loop does the rest. Restored after."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
