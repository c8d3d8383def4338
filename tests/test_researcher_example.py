"""examples/posts_by_region.py, a researcher's script, gives one table from the live API
and from a release of the same archive (issue 14)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.archive import Archive
from tests.support.feedserver import FeedServer
from tests.support.live import live_datasette

from .conftest import ROOT

SCRIPT = ROOT / "examples" / "posts_by_region.py"


def run_example(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--topic", "open-data", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_example_reads_the_same_table_from_the_api_and_from_a_release(
    server: FeedServer, tmp_path: Path
) -> None:
    archive = Archive(server, tmp_path, opted_out=False)
    archive.fetch()
    folder = archive.release()
    expected = archive.rows(
        "SELECT count(*) FROM posts_public WHERE id IN"
        " (SELECT post_id FROM post_topics WHERE topic = 'open-data')"
    )[0][0]
    with live_datasette(archive.db, log=tmp_path / "datasette.log") as base:
        live = run_example("--api", base, "--page-size", "2")  # many pages
    released = run_example("--release", str(folder))
    assert live == released
    lines = live.splitlines()
    assert lines[0] == "month\tregion\tposts"
    assert sum(int(line.rsplit("\t", 1)[1]) for line in lines[1:]) == expected > 0
