"""The `voice` command: a thin click layer that turns errors into one-line messages.

Exit codes: 0 success (individual feeds may have failed: they are recorded),
1 configuration problem, 3 database problem, 2 usage error (click).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any

import click

from aggregator import __version__
from aggregator import storage as store
from aggregator.errors import AggregatorError, ConfigError, StoreError
from aggregator.registry.feeds import ConfigErrors, load_registry
from aggregator.registry.topics import topics_for_registry
from aggregator.schedule import to_iso
from aggregator.storage import admin as store_admin
from aggregator.storage import feeds as store_feeds
from aggregator.update import FeedResult, update_feeds

EXIT_CONFIG = 1
EXIT_STORE = 3

config_option = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("feeds.yaml"),
    show_default=True,
    help="The member registry.",
)
db_option = click.option(
    "--db",
    "db",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("db/voice.db"),
    show_default=True,
    help="The SQLite database.",
)
private_option = click.option(
    "--allow-private-hosts",
    is_flag=True,
    default=None,
    help="Allow feeds on loopback and private addresses (tests, demos, intranets).",
)


def one_line_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Expected errors end the command with one line and an exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        except StoreError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_STORE)

    return wrapper


@click.group()
@click.version_option(__version__, prog_name="voice")
def cli() -> None:
    """LocalGov Digital Voice: gather member blogs into SQLite and serve them with Datasette."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@cli.command()
@config_option
@db_option
@one_line_errors
def check(config: Path, db: Path) -> None:
    """Validate feeds.yaml (and the topics.yaml it uses) and list every problem."""
    problems: list[str] = []
    try:
        vocabulary = topics_for_registry(config)
    except ConfigErrors as exc:  # feeds.yaml is still checked, without its topics
        problems += exc.problems
        vocabulary = None
    try:
        registry = load_registry(config, vocabulary.slugs if vocabulary else None)
    except ConfigErrors as exc:
        problems += exc.problems
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        click.echo(f"{config}: {len(problems)} problem(s) found", err=True)
        sys.exit(EXIT_CONFIG)
    click.echo(f"{config}: {len(registry.feeds)} feeds, all valid")


@contextmanager
def _progress(
    enabled: bool,
) -> Iterator[tuple[Callable[[int], None], Callable[[FeedResult], None]]]:
    """A progress bar on a terminal; silent otherwise (cron, CI, pipes)."""
    if not enabled:
        yield (lambda total: None), (lambda result: None)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("fetching"), BarColumn(), MofNCompleteColumn(), transient=True
    ) as progress:
        task = progress.add_task("fetch", total=None)
        yield (
            lambda total: progress.update(task, total=total),
            lambda result: progress.advance(task),
        )


@cli.command()
@config_option
@db_option
@click.option("--all", "all_feeds", is_flag=True, help="Check every feed, not only the due ones.")
@click.option("--feed", "feed_url", help="Check this one feed (its URL as in feeds.yaml).")
@private_option
@click.option("--verbose", "-v", is_flag=True, help="List each failed feed with its reason.")
@one_line_errors
def fetch(
    config: Path,
    db: Path,
    all_feeds: bool,
    feed_url: str | None,
    allow_private_hosts: bool | None,
    verbose: bool,
) -> None:
    """Run one fetch cycle over due feeds (or --all, or --feed URL)."""
    registry = load_registry(config)
    with _progress(sys.stderr.isatty()) as (on_start, on_result):
        result = update_feeds(
            registry,
            db,
            vocabulary=topics_for_registry(config),
            due_only=not all_feeds,
            feed_url=feed_url,
            allow_private_hosts=allow_private_hosts,
            on_start=on_start,
            on_result=on_result,
        )
    if verbose:
        for feed in result.feeds:
            if feed.error:
                click.echo(f"{feed.url}: {feed.error_kind}: {feed.error}")
    click.echo(result.summary())


@cli.command()
@config_option
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@one_line_errors
def serve(config: Path, db: Path, host: str, port: int) -> None:
    """Serve the database with Datasette (database name: the file's stem, e.g. voice)."""
    from aggregator import service  # APScheduler and Datasette only for the commands that serve

    sys.exit(service.serve(db, host=host, port=port))


@cli.command()
@config_option
@db_option
@private_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Only fetch on schedule; do not start Datasette.")
@one_line_errors
def run(
    config: Path,
    db: Path,
    allow_private_hosts: bool | None,
    host: str,
    port: int,
    no_serve: bool,
) -> None:
    """The main job: fetch on a schedule and serve with Datasette until stopped."""
    from aggregator import service

    code = service.run(
        config,
        db,
        allow_private_hosts=allow_private_hosts,
        serve_datasette=not no_serve,
        host=host,
        port=port,
    )
    sys.exit(code)


@cli.command()
@config_option
@db_option
@click.option("--problems", is_flag=True, help="Only feeds that need attention.")
@one_line_errors
def status(config: Path, db: Path, problems: bool) -> None:
    """Show feeds: status, what is wrong in plain English, last success, next check."""
    if not db.exists():
        raise StoreError(f"{db}: no database yet; run `voice fetch` first")
    conn = store.connect(db)
    try:
        rows = store_feeds.feed_rows(conn, problems_only=problems)
    finally:
        conn.close()
    if problems and not rows:
        click.echo("No feed needs attention.")
        return
    if sys.stdout.isatty():
        _status_table(rows)
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


def _status_table(rows: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("feed", "status", "posts", "last success", "what is happening", "next check")
    for r in rows:
        said = r["explanation"] or ""
        if r["error_kind"]:
            said += f"\n[dim]({r['error_kind']}: {r['last_error']})[/dim]"
        if r["pending_redirect"]:
            said += f"\nMoving to {r['pending_redirect']} (redirect seen, not yet confirmed)"
        table.add_row(
            f"{r['title'] or r['url']}\n[dim]{r['url']}[/dim]",
            r["status"],
            str(r["posts"]),
            r["last_success_at"] or "never",
            said,
            r["next_check_at"] or "-",
        )
    Console().print(table)


@cli.command()
@config_option
@db_option
@click.option(
    "--topics",
    "topics_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The vocabulary  [default: topics.yaml beside feeds.yaml, else Voice's own]",
)
@one_line_errors
def retag(config: Path, db: Path, topics_path: Path | None) -> None:
    """Re-apply topics.yaml to every stored post, after the vocabulary changes."""
    from aggregator.analysis.tagging import topics_for
    from aggregator.analysis.vocabulary import rules_version
    from aggregator.registry.topics import load_topics

    vocabulary = load_topics(topics_path) if topics_path else topics_for_registry(config)
    if vocabulary is None:
        raise ConfigError("no topics.yaml found (pass --topics PATH)")
    version = rules_version(vocabulary)

    def tag(
        title: str, text: str, categories: list[str], feed_topics: list[str]
    ) -> list[tuple[str, str, float]]:
        found = topics_for(title, text, categories, feed_topics, vocabulary)
        return [(a.topic, a.source, a.score) for a in found]

    conn = store.connect(db)
    try:
        count = store_admin.retag_posts(conn, tag, version)
    finally:
        conn.close()
    click.echo(f"{count} posts retagged with rules version {version}")


@cli.command()
@config_option
@db_option
@click.option("--rebuild", is_flag=True, required=True, help="Relink every post from scratch.")
@one_line_errors
def dedupe(config: Path, db: Path, rebuild: bool) -> None:
    """Rebuild cross-feed duplicate links over the whole database (--rebuild)."""
    conn = store.connect(db)
    try:
        store_admin.rebuild_duplicates(conn)
        total, copies = conn.execute("SELECT count(*), count(duplicate_of) FROM posts").fetchone()
    finally:
        conn.close()
    click.echo(f"{total} posts checked, {copies} are copies of another post")


@cli.command()
@config_option
@db_option
@click.argument("url")
@click.option("--reason", required=True, help="Why, for the audit (e.g. 'member asked').")
@click.option("--by", "removed_by", default=None, help="Who asks  [default: your login name]")
@one_line_errors
def remove(config: Path, db: Path, url: str, reason: str, removed_by: str | None) -> None:
    """Take a blog down: out of feeds.yaml, posts hidden from public views, audit kept."""
    import getpass

    from aggregator.registry.edit import remove_feed

    in_registry = remove_feed(config, url)
    conn = store.connect(db)
    try:
        result = store_admin.remove_feed(
            conn,
            url,
            reason=reason,
            removed_by=removed_by or getpass.getuser(),
            now=to_iso(datetime.now(UTC)),
        )
    finally:
        conn.close()
    if not in_registry and not result.feed_found:
        raise ConfigError(f"{url}: not in {config} nor in the database")
    where = f"removed from {config}" if in_registry else f"was not in {config}"
    click.echo(f"{url}: {where}; {result.posts_hidden} posts hidden; audit row written")


@cli.command()
@config_option
@db_option
@click.option("--apply", "apply_", is_flag=True, help="Write confirmed moves into feeds.yaml.")
@one_line_errors
def redirects(config: Path, db: Path, apply_: bool) -> None:
    """List permanent redirects seen (pending, confirmed, applied); --apply confirmed ones."""
    from aggregator.registry.edit import replace_feed_url

    conn = store.connect(db)
    try:
        rows = store_admin.redirect_rows(conn)
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
                    store_admin.apply_redirect(
                        conn, r["feed_id"], r["target"], to_iso(datetime.now(UTC))
                    )
                    line += f"; {config} updated"
            click.echo(line)
    finally:
        conn.close()
    if failed:
        sys.exit(EXIT_CONFIG)


@cli.command()
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Demo registry with {base} placeholders  [default: demo/feeds.yaml]",
)
@click.option(
    "--db",
    "db",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("db/demo/voice.db"),
    show_default=True,
    help="The demo database (kept apart from db/voice.db).",
)
@click.option("--port", default=8001, show_default=True, type=int)
@click.option(
    "--feeds-port", default=8002, show_default=True, type=int, help="Port for the demo feeds."
)
@click.option("--once", is_flag=True, help="Fetch the demo feeds once and exit, without serving.")
@one_line_errors
def demo(config: Path | None, db: Path, port: int, feeds_port: int, once: bool) -> None:
    """Voice offline: serve the bundled demo feeds on 127.0.0.1 and run against them."""
    from aggregator.demo import run_demo

    sys.exit(run_demo(db, config, port=port, feeds_port=feeds_port, once=once, echo=click.echo))


def main() -> None:
    try:
        cli(standalone_mode=True)
    except AggregatorError as exc:  # pragma: no cover - the decorators catch these
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


__all__ = ["cli", "main"]
