"""`voice run` as a process: fetches at start, serves Datasette, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

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


def test_run_fetches_serves_and_stops_on_sigterm(server: FeedServer, tmp_path: Path) -> None:
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
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "cycle done: 1 feeds checked" in out
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


def test_run_stops_when_datasette_dies(server: FeedServer, tmp_path: Path) -> None:
    """A site whose plugin cannot load: Datasette exits at start, and so does Voice."""
    site = tmp_path / "site"
    (site / "plugins").mkdir(parents=True)
    shutil.copy(ROOT / "metadata.yml", site / "metadata.yml")
    (site / "plugins" / "broken.py").write_text("raise RuntimeError('a broken plugin')\n")
    config = write_registry(tmp_path / "feeds.yaml", server.url("philrumens.atom"))
    proc = subprocess.run(
        [sys.executable, "-m", "aggregator", "run", "--allow-private-hosts",
         "--config", str(config), "--db", str(tmp_path / "voice.db"), "--port", str(free_port())],
        cwd=ROOT,
        env={**os.environ, "VOICE_HOME": str(site)},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "Datasette stopped" in proc.stderr


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
