"""`voice topics`: editors correct a post's topics, and export the corrections.

`voice topics set POST_ID --add a --remove b --by NAME` records the choice
(storage.corrections); tagging (`voice retag`, the fetch cycle, a blog's
default topics) never undoes it. `voice topics corrections > file` writes
every corrected post as JSON Lines, to grow the labelled set.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path

import click

from aggregator import storage
from aggregator.cli.options import config_option, db_option, existing_db, one_line_errors
from aggregator.errors import ConfigError
from aggregator.registry.topics import load_topics, topics_for_registry
from aggregator.schedule import to_iso
from aggregator.storage import corrections

topics_option = click.option(
    "--topics",
    "topics_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The vocabulary  [default: topics.yaml beside feeds.yaml, else Voice's own]",
)


def _slugs(values: tuple[str, ...]) -> list[str]:
    """--add a --add b and --add a,b alike, in the order given."""
    return list(dict.fromkeys(s.strip() for v in values for s in v.split(",") if s.strip()))


@click.group()
def topics() -> None:
    """Editors' topic corrections: `set` one post's topics, export the `corrections`."""


@topics.command(name="set")
@config_option
@db_option
@topics_option
@click.argument("post_id", type=int)
@click.option("--add", "add", multiple=True, metavar="TOPIC", help="A topic slug to give.")
@click.option(
    "--remove", "remove", multiple=True, metavar="TOPIC", help="A topic slug to take away."
)
@click.option("--by", "by", default=None, help="Who decides  [default: your login name]")
@one_line_errors
def set_topics(
    config: Path,
    db: Path,
    topics_path: Path | None,
    post_id: int,
    add: tuple[str, ...],
    remove: tuple[str, ...],
    by: str | None,
) -> None:
    """Give or take away topics of one post; tagging never undoes it."""
    vocabulary = load_topics(topics_path) if topics_path else topics_for_registry(config)
    if vocabulary is None:
        raise ConfigError("no topics.yaml found (pass --topics PATH)")
    known = {t.slug for t in vocabulary.topics}
    to_add, to_remove = _slugs(add), _slugs(remove)
    unknown = [s for s in to_add + to_remove if s not in known]
    if unknown:
        raise ConfigError(
            f"{unknown[0]!r} is not a topic in topics.yaml ({', '.join(sorted(known))})"
        )
    conn = storage.connect(existing_db(db))
    try:
        done = corrections.set_topics(
            conn,
            post_id,
            add=to_add,
            remove=to_remove,
            by=by or getpass.getuser(),
            now=to_iso(datetime.now(UTC)),
        )
    finally:
        conn.close()
    changes = [f"added {', '.join(done.added)}"] if done.added else []
    changes += [f"removed {', '.join(done.removed)}"] if done.removed else []
    said = "; ".join(changes) or "it already had them"
    now = ", ".join(done.topics) or "none"
    click.echo(f"post {post_id}: {said}; topics now {now}; kept through retagging")


@topics.command(name="corrections")
@config_option
@db_option
@one_line_errors
def export(config: Path, db: Path) -> None:
    """Every corrected post as JSON Lines on standard output (names included: keep it private)."""
    conn = storage.connect(existing_db(db))
    try:
        count = 0
        for record in corrections.export_corrections(conn):
            click.echo(json.dumps(record, ensure_ascii=False))
            count += 1
    finally:
        conn.close()
    click.echo(f"{count} corrected posts", err=True)
