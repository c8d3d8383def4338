"""`voice release`: a fixed, citable copy of the public archive for researchers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from aggregator.cli.options import db_option, existing_db, one_line_errors


@click.command()
@db_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The folder of releases (default: releases/ beside the database).",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="Then delete all but the newest N releases (default: keep every one).",
)
@one_line_errors
def release(db: Path, out: Path | None, keep: int | None) -> None:
    """Write a dated, immutable research release: SQLite, Parquet, JSON Lines, a manifest."""
    from aggregator.releasing import make_release

    result = make_release(existing_db(db), out=out, clock=lambda: datetime.now(UTC), keep=keep)
    counts = ", ".join(f"{n:,} {name}" for name, n in result.counts.items())
    diff = result.diff
    click.echo(f"release {result.release_id} written to {result.folder}: {counts}")
    since = f"since {diff.previous}" if diff.previous else "(the first release)"
    click.echo(
        f"changes {since}: {len(diff.added):,} added, {len(diff.updated):,} updated, "
        f"{len(diff.taken_down):,} removed at their author's request, "
        f"{len(diff.left_out):,} no longer included"
    )
    for old in result.pruned:
        click.echo(f"deleted the old release {old}")
