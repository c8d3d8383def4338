"""A real Datasette process serving a Voice database on 127.0.0.1, as `voice serve` runs it.

    with live_datasette(tmp / "voice.db", log=tmp / "datasette.log") as base:
        base                            # http://127.0.0.1:PORT
        # GET base + "/voice/river" ...
    with live_datasette(db, log=log, config=tmp / "feeds.yaml", allow_private_hosts=True) as base:
        # the /connect form's commands use that feeds.yaml and may fetch from 127.0.0.1

The command comes from aggregator.service.datasette_command, so the test server
has the same plugins, metadata, templates and settings as the real one. The
database is named by its file's stem: call the file voice.db for /voice/... URLs.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aggregator.registry.site import find_site
from aggregator.service import datasette_command, datasette_env, stop_datasette
from tests.conftest import free_port

READY_PATH = "/-/versions.json"
HANG_SECONDS = 60.0  # Datasette starts in about a second; this only ends a hang
POLL_SECONDS = 0.1
VOICE_HANG_SECONDS = 300.0  # a fetch cycle of a few local feeds takes seconds


class DatasetteDidNotStart(AssertionError):
    """Datasette exited, or never answered, before the deadline; carries its log."""


@contextmanager
def live_datasette(
    db_path: Path,
    *,
    log: Path,
    config: Path | None = None,
    allow_private_hosts: bool = False,
) -> Iterator[str]:
    """Datasette on `db_path` at a free port until the block ends, however it ends.

    Yields the base URL once GET /-/versions.json answers. Datasette's output
    goes to `log`, whose end is in the error if it never answers. `config` and
    `allow_private_hosts` reach the web form's commands as `voice run` passes
    them (aggregator.service.datasette_env).
    """
    env = datasette_env(db_path, config, allow_private_hosts=allow_private_hosts)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        datasette_command(db_path, find_site(), host="127.0.0.1", port=port) as cmd,
        log.open("wb") as out,
    ):
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_until_answers(base, child, log)
            yield base
        finally:
            stop_datasette(child)


def _wait_until_answers(base: str, child: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + HANG_SECONDS
    while True:
        try:
            with urllib.request.urlopen(base + READY_PATH, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass  # not listening yet
        code = child.poll()
        if code is not None or time.monotonic() > deadline:
            why = f"exited with code {code}" if code is not None else f"{HANG_SECONDS:g} s passed"
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise DatasetteDidNotStart(
                f"Datasette never answered {base}{READY_PATH}: {why}\n{tail}"
            )
        time.sleep(POLL_SECONDS)


def run_voice(*args: str | Path) -> str:
    """`voice ARGS` as its own process (its own event loop, beside Playwright's); its output.

    A non-zero exit fails with that output; the timeout only ends a hang.
    """
    cmd = [sys.executable, "-m", "aggregator", *map(str, args)]
    done = subprocess.run(
        cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=VOICE_HANG_SECONDS
    )
    if done.returncode != 0:
        raise AssertionError(
            f"voice {' '.join(map(str, args))} exited {done.returncode}:\n"
            f"{done.stdout}{done.stderr}"
        )
    return done.stdout


def build_demo_db(db_path: Path) -> Path:
    """The bundled demo feeds fetched once into `db_path`, offline: `voice demo --once`."""
    run_voice("demo", "--once", "--db", db_path, "--feeds-port", free_port())
    return db_path
