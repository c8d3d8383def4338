"""The `voice` command: a thin click layer over the stages.

Every expected error becomes one line and an exit code (see options);
the commands live in `running` (check, fetch, serve, run, demo) and
`archive` (status, retag, dedupe, redirects) and `takedowns` (remove)
and `moderating` (submissions, member, import-opml) and `joining` (try, add)
and `releasing` (release) and `topics` (editors' topic corrections)
and `train_topics` (the topic model);
`progress` draws the bar of the commands that walk the whole archive.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from aggregator import __version__
from aggregator.cli.options import EXIT_CONFIG
from aggregator.errors import AggregatorError

# name -> (module under aggregator.cli, function). A command's module is
# imported when the command runs (or help lists it), not at start-up: a
# `voice fetch` every few minutes need not load joining, moderation and the
# topic model's trainer. tests/test_startup.py checks the table.
COMMANDS = {
    "check": ("running", "check"),
    "fetch": ("running", "fetch"),
    "serve": ("running", "serve"),
    "run": ("running", "run"),
    "status": ("archive", "status"),
    "retag": ("archive", "retag"),
    "topics": ("topics", "topics"),
    "train-topics": ("train_topics", "train_topics"),
    "dedupe": ("archive", "dedupe"),
    "remove": ("takedowns", "remove"),
    "redirects": ("archive", "redirects"),
    "demo": ("running", "demo"),
    "try": ("joining", "try_blog"),
    "add": ("joining", "add"),
    "submissions": ("moderating", "submissions"),
    "member": ("moderating", "member"),
    "import-opml": ("moderating", "import_opml"),
    "release": ("releasing", "release"),
}


class LazyGroup(click.Group):
    """A click group whose `commands` holds each name's (module, function) until it is used."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = self.commands.get(cmd_name)
        if isinstance(found, tuple):
            module, name = found
            found = getattr(importlib.import_module(f"aggregator.cli.{module}"), name)
            self.commands[cmd_name] = found
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)


@click.group(cls=LazyGroup, commands=dict(COMMANDS))  # type: ignore[arg-type]
@click.version_option(__version__, prog_name="voice")
def cli() -> None:
    """LocalGov Digital Voice: gather member blogs into SQLite and serve them with Datasette."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except AggregatorError as exc:  # pragma: no cover - the decorators catch these
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


__all__ = ["cli", "main"]
