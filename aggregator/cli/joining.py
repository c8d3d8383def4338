"""Joining from the command line: `voice try URL` and `voice add URL --region R`.

Both run one trial (discover, fetch, parse, tag; nothing stored) and print
its preview. `voice try --json` is the interface the /connect page calls as
a subprocess: one JSON object on stdout and exit 0 whenever a trial ran.
`voice add` then asks before it edits feeds.yaml (atomically, comments kept)
and refuses a blog that is already registered under any of its addresses,
including the old side of a redirect the fetcher has seen (read from --db).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from aggregator import storage
from aggregator.analysis.vocabulary import Vocabulary
from aggregator.cli.options import (
    EXIT_NOT_CONNECTABLE,
    config_option,
    db_option,
    one_line_errors,
    private_option,
)
from aggregator.errors import ConfigError, StoreError
from aggregator.joining.preview import LABEL, preview_lines
from aggregator.joining.trial import Trial, run_trial
from aggregator.models import REGIONS, Registry, Settings
from aggregator.registry.edit import add_feed
from aggregator.registry.feeds import load_registry
from aggregator.registry.regions import match_region
from aggregator.registry.sameblog import find_registered
from aggregator.registry.topics import topics_for_registry
from aggregator.storage import admin


def known_redirects(db: Path) -> dict[str, str]:
    """Old feed address -> new, for every move the fetcher has seen; empty without a database."""
    if not db.exists():
        return {}
    try:
        conn = storage.connect(db)
    except StoreError:
        return {}
    try:
        return {row["url"]: row["target"] for row in admin.redirect_rows(conn)}
    finally:
        conn.close()


def _labels(vocabulary: Vocabulary | None) -> dict[str, str]:
    return {t.slug: t.label for t in vocabulary.topics} if vocabulary else {}


def _echo_preview(trial: Trial, vocabulary: Vocabulary | None) -> None:
    for line in preview_lines(trial, _labels(vocabulary)):
        click.echo(line)


@click.command("try")
@click.argument("url")
@config_option
@db_option
@private_option
@click.option("--json", "as_json", is_flag=True, help="Print the trial as one JSON object.")
@one_line_errors
def try_blog(
    url: str, config: Path, db: Path, allow_private_hosts: bool | None, as_json: bool
) -> None:
    """Try a blog before it joins: find its feed, read it once and preview it (nothing stored)."""
    # Without a feeds.yaml, anyone can still try a blog with the default limits.
    registry = load_registry(config) if config.exists() else Registry(Settings(), ())
    vocabulary = topics_for_registry(config)
    trial = run_trial(url, registry, vocabulary, allow_private_hosts=allow_private_hosts)
    if as_json:
        click.echo(json.dumps(trial.to_json(), ensure_ascii=False))
        return
    _echo_preview(trial, vocabulary)
    known = _registered(registry, trial, known_redirects(db))
    if known is not None:
        click.echo(LABEL.format("Note:") + f"this blog is already in {config} as {known}")
    if not trial.ok:
        sys.exit(EXIT_NOT_CONNECTABLE)


def _registered(registry: Registry, trial: Trial, redirects: dict[str, str]) -> str | None:
    urls = [u for u in (trial.requested_url, trial.feed_url, trial.site_url) if u]
    found = find_registered(registry, *urls, redirects=redirects)
    return None if found is None else f"{found.url} ({found.region})"


def _region(text: str) -> str:
    canonical, suggestion = match_region(text)
    if canonical:
        return canonical
    hint = f"did you mean {suggestion}?" if suggestion else "use one of " + ", ".join(REGIONS)
    raise ConfigError(f"--region {text!r} is not a region Voice knows: {hint}")


def _topics(text: str | None, vocabulary: Vocabulary | None) -> list[str]:
    wanted = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not wanted or vocabulary is None:
        return wanted
    by_slug = {slug.lower(): slug for slug in vocabulary.slugs}
    unknown = [t for t in wanted if t.lower() not in by_slug]
    if unknown:
        raise ConfigError(
            f"--topics: {', '.join(unknown)} not in topics.yaml "
            f"(known: {', '.join(vocabulary.slugs)})"
        )
    return [by_slug[t.lower()] for t in wanted]


@click.command()
@click.argument("url")
@click.option("--region", required=True, help="The member's region, e.g. 'South East'.")
@click.option("--organisation", help="The council or organisation the blog belongs to.")
@click.option("--author", help="The blog's author, when one person writes it.")
@click.option("--title", help="The blog's name  [default: the feed's title]")
@click.option("--topics", "topics", help="Default topics, comma-separated slugs from topics.yaml.")
@click.option("--yes", is_flag=True, help="Add without asking (for scripts).")
@config_option
@db_option
@private_option
@one_line_errors
def add(
    url: str,
    region: str,
    organisation: str | None,
    author: str | None,
    title: str | None,
    topics: str | None,
    yes: bool,
    config: Path,
    db: Path,
    allow_private_hosts: bool | None,
) -> None:
    """Try a blog, show its preview, and after confirmation add it to feeds.yaml."""
    canonical_region = _region(region)
    registry = load_registry(config)
    vocabulary = topics_for_registry(config)
    slugs = _topics(topics, vocabulary)
    redirects = known_redirects(db)
    known = find_registered(registry, url, redirects=redirects)
    if known is not None:
        raise ConfigError(f"this blog is already in {config} as {known.url} ({known.region})")
    trial = run_trial(url, registry, vocabulary, allow_private_hosts=allow_private_hosts)
    _echo_preview(trial, vocabulary)
    if not trial.ok:
        click.echo("Not added: Voice cannot read a feed for this blog as it stands.", err=True)
        sys.exit(EXIT_NOT_CONNECTABLE)
    already = _registered(registry, trial, redirects)
    if already is not None:
        raise ConfigError(f"this blog is already in {config} as {already}")
    entry: dict[str, Any] = {
        "url": trial.feed_url,
        "title": title or trial.title,
        "site_url": trial.site_url,
        "author": author,
        "region": canonical_region,
        "organisation": organisation,
        "topics": slugs,
    }
    click.echo("")
    click.echo(f"To be added to {config}:")
    for key, value in entry.items():
        if value:
            shown = ", ".join(value) if isinstance(value, list) else value
            click.echo(f"  {key}: {shown}")
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError("not added: confirm on a terminal, or pass --yes")
        if not click.confirm(f"Add this blog to {config}?", default=True):
            click.echo("Nothing added.")
            return
    add_feed(config, entry, redirects=redirects)
    click.echo(
        f"Added {entry['title'] or trial.feed_url} to {config}; the next fetch reads it "
        f"(or now: voice fetch --feed {trial.feed_url})."
    )
