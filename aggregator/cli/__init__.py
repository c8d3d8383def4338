"""The `voice` command: a thin click layer over the stages.

Every expected error becomes one line and an exit code (see options);
the commands live in `running` (check, fetch, serve, run, demo) and
`archive` (status, retag, dedupe, redirects) and `takedowns` (remove)
and `moderating` (submissions, member, import-opml) and `joining` (try, add)
and `topics` (editors' topic corrections) and `train_topics` (the topic model).
"""

from __future__ import annotations

import logging
import sys

import click

from aggregator import __version__
from aggregator.cli import (
    archive,
    joining,
    moderating,
    running,
    takedowns,
    topics,
    train_topics,
)
from aggregator.cli.options import EXIT_CONFIG
from aggregator.errors import AggregatorError


@click.group()
@click.version_option(__version__, prog_name="voice")
def cli() -> None:
    """LocalGov Digital Voice: gather member blogs into SQLite and serve them with Datasette."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)



for _command in (
    running.check,
    running.fetch,
    running.serve,
    running.run,
    archive.status,
    archive.retag,
    topics.topics,
    train_topics.train_topics,
    archive.dedupe,
    takedowns.remove,
    archive.redirects,
    running.demo,
    joining.try_blog,
    joining.add,
    moderating.submissions,
    moderating.member,
    moderating.import_opml,
):
    cli.add_command(_command)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except AggregatorError as exc:  # pragma: no cover - the decorators catch these
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


__all__ = ["cli", "main"]
