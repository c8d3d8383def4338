"""`voice run` and `voice serve`: the scheduler beside Datasette.

APScheduler runs fetch cycles in this process (one at a time, coalesced, so a
slow cycle never piles up); Datasette runs as a child process, reading the
same WAL database. SIGTERM or Ctrl-C stops new feeds from starting, lets the
write in progress commit, and stops Datasette.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from aggregator import storage
from aggregator.errors import AggregatorError, ConfigError
from aggregator.registry.feeds import load_registry
from aggregator.registry.site import Site, find_site, metadata_for
from aggregator.registry.topics import topics_for_registry
from aggregator.update import make_pool, update_feeds
from aggregator.update.cycle import VoicePool

log = logging.getLogger("voice")



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
        yield cmd


def ensure_port_free(host: str, port: int) -> None:
    """Fail before any fetching when Datasette could not listen: a one-line reason."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot serve on {host}:{port} ({exc.strerror}): is Voice or Datasette "
                "already running there? Stop it or pass --port"
            ) from exc


def prepare_db(db_path: Path) -> None:
    """Create and migrate the database so Datasette starts on the current schema."""
    storage.connect(db_path).close()


def serve(db_path: Path, *, host: str, port: int) -> int:
    site = find_site()
    ensure_port_free(host, port)
    prepare_db(db_path)
    with datasette_command(db_path, site, host=host, port=port) as cmd:
        return subprocess.call(cmd)


def run_cycle_logged(
    config: Path,
    db_path: Path,
    *,
    allow_private_hosts: bool | None,
    pool: VoicePool,
    stop: threading.Event,
) -> None:
    """One scheduled cycle. Re-reads feeds.yaml so edits apply without a restart."""
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
    except AggregatorError as exc:
        log.error("cycle skipped: %s", exc)
        return
    log.info("cycle done: %s", result.summary())


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

    Returns the exit code: 0 after a requested stop, 1 if Datasette died.
    The main thread only waits for a stop and watches Datasette; cycles run on
    the scheduler's thread, so a signal at any moment is handled the same way.
    """
    registry = load_registry(config)  # fail fast on a bad registry
    settings = registry.settings
    site = find_site() if serve_datasette else None
    if serve_datasette:
        ensure_port_free(host, port)
    prepare_db(db_path)
    stop = threading.Event()
    previous = {s: signal.signal(s, _setter(stop)) for s in (signal.SIGINT, signal.SIGTERM)}
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    child: subprocess.Popen[bytes] | None = None
    code = 0
    try:
        with make_pool(settings) as pool, ExitStack() as stack:
            if site is not None:
                cmd = stack.enter_context(datasette_command(db_path, site, host=host, port=port))
                child = subprocess.Popen(cmd)
                log.info("Datasette: http://%s:%d/%s", host, port, db_path.stem)
            scheduler.add_job(
                run_cycle_logged,
                "interval",
                minutes=settings.cycle_minutes,
                next_run_time=datetime.now(UTC),
                args=[config, db_path],
                kwargs={"allow_private_hosts": allow_private_hosts, "pool": pool, "stop": stop},
                id="fetch-cycle",
            )
            scheduler.start()
            on_ready()
            while not stop.wait(0.5):
                if child is not None and child.poll() is not None:
                    log.error("Datasette stopped (exit code %s); stopping Voice", child.returncode)
                    code = 1
                    stop.set()
            log.info("stopping: finishing the write in progress")
            scheduler.shutdown(wait=True)  # the running cycle sees `stop` and ends soon
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return code


def _setter(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    """A signal handler that only asks for a stop; the main loop does the rest."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return handler
