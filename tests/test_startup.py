"""Start-up: `voice fetch` loads what a fetch needs, not every command (issue 13).

A warm cycle (every feed answering 304) is mostly start-up, so the CLI
imports a command's module only when that command runs, and httpx's own
command line (rich, pygments) is never imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from aggregator.cli import COMMANDS, cli
from aggregator.parsing.pool import ParsePool
from aggregator.update import update_feeds
from tests.support.feedserver import FeedServer

from .conftest import registry_for
from .test_full_disk import write_blogs


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_in_the_table_is_the_command_of_that_name(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert isinstance(command, click.Command)
    assert command.name == name


def test_help_lists_every_command_in_order() -> None:
    assert cli.list_commands(click.Context(cli)) == sorted(COMMANDS)


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_fetch_command_loads_neither_other_commands_nor_httpxs_command_line() -> None:
    loaded = loaded_after(
        "import click\n"
        "from aggregator.cli import cli\n"
        "assert cli.get_command(click.Context(cli), 'fetch') is not None"
    )
    assert "aggregator.cli.running" in loaded and "httpx" in loaded
    others = {f"aggregator.cli.{m}" for m, _ in COMMANDS.values()} - {"aggregator.cli.running"}
    assert not loaded & others
    assert not {m for m in loaded if m.split(".")[0] in ("rich", "pygments")}
    assert "httpx._main" not in loaded


@pytest.mark.parametrize(
    "code",
    ["import aggregator.analysis.hashing", "import aggregator.storage.migrations"],
)
def test_importing_numpy_starts_no_thread(code: str) -> None:
    """OpenBLAS's threads would spin beside the cycle's start-up, and be forked from."""
    script = f"import os\n{code}\nimport numpy\nprint(len(os.listdir('/proc/self/task')))"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"]


def test_httpx_works_and_its_command_line_can_still_be_imported_on_purpose() -> None:
    loaded = loaded_after("import aggregator.fetching, httpx\nimport httpx._main")
    assert "httpx._main" in loaded


# What a cycle needs only when a feed sends a body to parse and store: the
# parse workers, the sanitiser, the sketch and tagger, post storage and its
# linking, the archive-wide maintenance. Each used to load at every start.
ONLY_FOR_BODIES = {
    "aggregator.analysis.hashing",
    "aggregator.analysis.sketch",
    "aggregator.analysis.similarity",
    "aggregator.analysis.tagging",
    "aggregator.parsing.sanitize",
    "aggregator.storage.admin",
    "aggregator.storage.choices",
    "aggregator.storage.duplicates",
    "aggregator.storage.posts",
    "feedparser",
    "multiprocessing",
    "nh3",
    "numpy",
    "statistics",
}


def test_the_fetch_command_loads_nothing_only_a_body_needs() -> None:
    loaded = loaded_after("import aggregator.cli.running")
    assert not loaded & ONLY_FOR_BODIES


WARM_CYCLE = """
from aggregator.models import FeedSource, Registry, Settings
from aggregator.update import update_feeds
settings = Settings(allow_private_hosts=True, host_gap_seconds=0.0)
feeds = tuple(FeedSource(url=u, region="National") for u in {urls!r})
result = update_feeds(Registry(settings=settings, feeds=feeds), Path({db!r}), due_only=False)
assert [f.outcome for f in result.feeds] == ["not_modified"] * len(feeds), result.feeds
"""


def test_a_cycle_of_304s_loads_nothing_only_a_body_needs(
    server: FeedServer, tmp_path: Path, pool: ParsePool
) -> None:
    """In a fresh interpreter, after a whole cycle, not only after importing."""
    urls = write_blogs(tmp_path / "site", server, 3, posts=2, words=30)
    db = tmp_path / "voice.db"
    registry = registry_for(*urls)
    update_feeds(registry, db, pool=pool)  # cold: stores the posts, keeps the validators
    cycle = WARM_CYCLE.format(urls=urls, db=str(db))
    loaded = loaded_after(f"from pathlib import Path\n{cycle}")
    assert "aggregator.update.cycle" in loaded and "httpx" in loaded
    assert not loaded & ONLY_FOR_BODIES
