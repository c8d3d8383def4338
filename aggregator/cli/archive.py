"""Commands over the archive and the registry: status, retag, dedupe, redirects.

Each reads an existing database: a missing one is an error, never a new
empty archive that answers "0 posts".
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from aggregator import storage
from aggregator.cli.options import (
    EXIT_CONFIG,
    config_option,
    db_option,
    existing_db,
    one_line_errors,
)
from aggregator.cli.progress import progress_bar, progress_option
from aggregator.errors import ConfigError
from aggregator.registry.topics import topics_for_registry
from aggregator.schedule import from_iso, to_iso
from aggregator.storage import admin
from aggregator.storage import feeds as stored_feeds


@click.command()
@config_option
@db_option
@click.option("--problems", is_flag=True, help="Only feeds that need attention.")
@click.option("--feed", "feed_url", metavar="URL", help="Show this one feed in full.")
@one_line_errors
def status(config: Path, db: Path, problems: bool, feed_url: str | None) -> None:
    """Show feeds: status, what is wrong in plain English, last success, next check."""
    conn = storage.connect(existing_db(db))
    try:
        if feed_url is not None:
            row = stored_feeds.feed_details(conn, feed_url)
            if row is None:
                raise ConfigError(f"{feed_url}: not in the registry")
            for line in feed_lines(row):
                click.echo(line)
            return
        rows = stored_feeds.feed_rows(conn, problems_only=problems)
    finally:
        conn.close()
    if problems and not rows:
        click.echo("No feed needs attention.")
        return
    if sys.stdout.isatty():
        width = shutil.get_terminal_size().columns
        for line in status_blocks(rows, width):
            click.echo(line)
    else:  # piped or in a script: plain lines, one block per feed, nothing wrapped
        for r in rows:
            click.echo(
                f"{r['url']}  [{r['status']}]  {r['posts']} posts  "
                f"last success: {r['last_success_at'] or 'never'}  "
                f"next check: {r['next_check_at'] or '-'}"
            )
            if r["explanation"]:
                click.echo(f"    {r['explanation']}")
            if r["error_kind"]:
                click.echo(f"    ({r['error_kind']}: {r['last_error']})")
            if r["pending_redirect"]:
                click.echo(f"    moving to {r['pending_redirect']} (not yet confirmed)")


def status_blocks(rows: list[Any], width: int) -> list[str]:
    """A terminal's status view: one block per feed, wrapped to `width`, nothing cut.

    A table of six columns cut URLs and dates at 80 columns; a block keeps
    the feed's URL on a line of its own and says dates the way people do.
    """
    indent = "    "
    wrap = textwrap.TextWrapper(
        width=max(width, 40), initial_indent=indent, subsequent_indent=indent
    )
    lines: list[str] = []
    for r in rows:
        posts = f"{r['posts']} post" + ("" if r["posts"] == 1 else "s")
        heading = f"{r['title'] or r['url']}  [{r['status']}]"
        lines += [click.style(line, bold=True) for line in textwrap.wrap(heading, max(width, 40))]
        lines.append(f"{indent}{r['url']}")
        checked = f"last success {_when(r['last_success_at'])}"
        lines += wrap.wrap(f"{posts}; {checked}; next check {_when(r['next_check_at'])}")
        if r["explanation"]:
            lines += wrap.wrap(r["explanation"])
        if r["error_kind"]:
            detail = wrap.wrap(f"({r['error_kind']}: {r['last_error']})")
            lines += [click.style(line, dim=True) for line in detail]
        if r["pending_redirect"]:
            lines += wrap.wrap(f"Moving to {r['pending_redirect']} (not yet confirmed)")
        lines.append("")
    return lines


def feed_lines(r: Any) -> list[str]:
    """One feed in full, a "label: value" line each (`voice status --feed`)."""
    error = "none"
    if r["error_kind"]:
        error = f"{r['last_error']} ({r['error_kind']})"
    next_check = "not checked while paused" if r["paused"] else _when(r["next_check_at"])
    lines = [
        f"{r['title'] or r['url']}",
        f"URL: {r['url']}",
        f"Website: {r['site_url'] or '-'}",
        f"Region: {r['region'] or '-'}",
        f"Organisation: {r['organisation'] or '-'}",
        f"Status: {r['status']}",
        f"Explanation: {r['explanation'] or '-'}",
        f"Last checked: {_when(r['last_checked_at'])}",
        f"Last success: {_when(r['last_success_at'])}",
        f"Last error: {error}",
        f"Next check: {next_check}",
        f"Posts: {r['posts']}",
        f"Display: {'excerpts only' if r['display'] == 'excerpt' else 'full text'}",
        f"Research data: {'included' if r['research'] else 'left out'}",
        f"Paused: {'yes, by its member' if r['paused'] else 'no'}",
        f"Verified: {_when(r['verified_at']) if r['verified_at'] else 'no'}",
    ]
    if r["pending_redirect"]:
        lines.append(f"Moving to: {r['pending_redirect']} (not yet confirmed)")
    return lines


def _when(iso: str | None) -> str:
    """'6 Dec 2026 09:13 UTC' from a stored ISO time; 'never' when there is none."""
    if not iso:
        return "never"
    moment = from_iso(iso)
    return f"{moment.day} {moment:%b %Y %H:%M} UTC"


@click.command()
@config_option
@db_option
@click.option(
    "--topics",
    "topics_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The vocabulary  [default: topics.yaml beside feeds.yaml, else Voice's own]",
)
@progress_option
@one_line_errors
def retag(config: Path, db: Path, topics_path: Path | None, progress: bool | None) -> None:
    """Re-apply topics.yaml to every stored post, after the vocabulary changes."""
    from aggregator.analysis.tagging import topics_for
    from aggregator.analysis.vocabulary import rules_version
    from aggregator.registry.topics import load_topics
    from aggregator.storage.feeds import sync_topics

    vocabulary = load_topics(topics_path) if topics_path else topics_for_registry(config)
    if vocabulary is None:
        raise ConfigError("no topics.yaml found (pass --topics PATH)")
    version = rules_version(vocabulary)

    def tag(
        title: str, text: str, categories: list[str], feed_topics: list[str]
    ) -> list[tuple[str, str, float, tuple[str, ...]]]:
        found = topics_for(title, text, categories, feed_topics, vocabulary)
        return [(a.topic, a.source, a.score, a.evidence) for a in found]

    conn = storage.connect(existing_db(db))
    try:
        sync_topics(conn, [(t.slug, t.label, t.description) for t in vocabulary.topics])
        with progress_bar("retagging", progress) as update:
            count = admin.retag_posts(conn, tag, version, progress=update)
    finally:
        conn.close()
    click.echo(f"{count} posts retagged with rules version {version}")


@click.command()
@config_option
@db_option
@click.option(
    "--rebuild",
    is_flag=True,
    help="Accepted for older scripts; rebuilding is what the command does.",
)
@progress_option
@one_line_errors
def dedupe(config: Path, db: Path, rebuild: bool, progress: bool | None) -> None:
    """Relink cross-feed copies over the whole archive from scratch."""
    conn = storage.connect(existing_db(db))
    try:
        with progress_bar("linking copies", progress) as update:
            admin.rebuild_duplicates(conn, progress=update)
        total, copies = conn.execute("SELECT count(*), count(duplicate_of) FROM posts").fetchone()
    finally:
        conn.close()
    click.echo(f"{total} posts checked, {copies} are copies of another post")


@click.command()
@config_option
@db_option
@click.option("--apply", "apply_", is_flag=True, help="Write confirmed moves into feeds.yaml.")
@one_line_errors
def redirects(config: Path, db: Path, apply_: bool) -> None:
    """List permanent redirects seen (pending, confirmed, applied); --apply confirmed ones."""
    from aggregator.registry.edit import replace_feed_url

    conn = storage.connect(existing_db(db))
    try:
        rows = admin.redirect_rows(conn)
        if not rows:
            click.echo("No permanent redirects seen.")
            return
        failed = 0
        for r in rows:
            state = (
                "applied" if r["applied_at"] else "confirmed" if r["confirmed_at"] else "pending"
            )
            line = (
                f"{r['url']} -> {r['target']}: {state}, seen {r['times_seen']} times "
                f"({r['first_seen_at']} to {r['last_seen_at']})"
            )
            if apply_ and state == "confirmed":
                try:
                    replace_feed_url(config, r["url"], r["target"])
                except ConfigError as exc:
                    failed += 1
                    line += f"; not applied: {exc}"
                else:
                    admin.apply_redirect(conn, r["feed_id"], r["target"], to_iso(datetime.now(UTC)))
                    line += f"; {config} updated"
            click.echo(line)
    finally:
        conn.close()
    if failed:
        sys.exit(EXIT_CONFIG)
