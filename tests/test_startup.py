"""Start-up: `voice fetch` loads what a fetch needs, not every command (issue 13).

A warm cycle (every feed answering 304) is mostly start-up, so the CLI
imports a command's module only when that command runs, and httpx's own
command line (rich, pygments) is never imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from aggregator.cli import COMMANDS, cli


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


def test_httpx_works_and_its_command_line_can_still_be_imported_on_purpose() -> None:
    loaded = loaded_after("import aggregator.fetching, httpx\nimport httpx._main")
    assert "httpx._main" in loaded
