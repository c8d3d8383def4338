"""Commands that fetch and serve: check, fetch, serve, run, demo."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from aggregator.cli.options import (
    EXIT_CONFIG,
    config_option,
    db_option,
    one_line_errors,
    private_option,
)
from aggregator.registry.feeds import (
    BASE_PLACEHOLDER,
    DEMO_BASE,
    ConfigErrors,
    fill_base,
    load_registry,
    parse_registry,
    read_config_text,
)
from aggregator.registry.topics import lazy_topics_for_registry, topics_for_registry
from aggregator.update import FeedResult, update_feeds


@click.command()
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
    text = read_config_text(config, " (pass --config PATH)")
    demo = BASE_PLACEHOLDER in text  # a demo registry: {base} is the demo server
    try:
        known = vocabulary.slugs if vocabulary else None
        registry = parse_registry(fill_base(text, DEMO_BASE) if demo else text, config, known)
    except ConfigErrors as exc:
        problems += exc.problems
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        click.echo(f"{config}: {len(problems)} problem(s) found", err=True)
        sys.exit(EXIT_CONFIG)
    note = f" (a demo registry: {BASE_PLACEHOLDER} read as {DEMO_BASE})" if demo else ""
    click.echo(f"{config}: {len(registry.feeds)} feeds, all valid{note}")


@contextmanager
def _progress(
    enabled: bool,
) -> Iterator[tuple[Callable[[int], None], Callable[[FeedResult], None]]]:
    """A progress bar on a terminal; silent otherwise (cron, CI, pipes)."""
    if not enabled:
        yield (lambda total: None), (lambda result: None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = (TextColumn("fetching"), BarColumn(), MofNCompleteColumn())
    # on stderr, the terminal we checked: stdout keeps the summary for scripts
    with Progress(*bar, transient=True, console=Console(file=sys.stderr)) as progress:
        task = progress.add_task("fetch", total=None)
        yield (
            lambda total: progress.update(task, total=total),
            lambda result: progress.advance(task),
        )


@click.command()
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
            vocabulary=lazy_topics_for_registry(config),  # built only if a body comes
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


@click.command()
@config_option
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@one_line_errors
def serve(config: Path, db: Path, host: str, port: int) -> None:
    """Serve the database with Datasette (database name: the file's stem, e.g. voice)."""
    from aggregator import service  # APScheduler and Datasette only for the commands that serve

    sys.exit(service.serve(db, host=host, port=port, config=config))


@click.command()
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


@click.command()
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


