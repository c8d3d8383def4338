"""`voice remove`: a member asks for their blog, or one post, to be taken down.

The target is matched the same way everywhere: a feed URL by the registry's
normalised-URL rule (scheme, case, default port and trailing slash do not
matter), then a post's URL (or its canonical form), then a post id. Nothing
matching is an error (exit 1), never a silent "0 posts hidden".
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path

import click

from aggregator import storage
from aggregator.cli.options import config_option, db_option, existing_db, one_line_errors
from aggregator.errors import ConfigError
from aggregator.schedule import to_iso
from aggregator.storage import takedown
from aggregator.storage.targets import find_feed, find_posts, find_taken_down_feed


@click.command()
@config_option
@db_option
@click.argument("target")
@click.option("--reason", required=True, help="Why, for the private audit (e.g. 'member asked').")
@click.option("--by", "removed_by", default=None, help="Who acts  [default: your login name]")
@click.option(
    "--purge", is_flag=True, help="Also delete the private copy kept for undo (cannot be undone)."
)
@one_line_errors
def remove(
    config: Path, db: Path, target: str, reason: str, removed_by: str | None, purge: bool
) -> None:
    """Take a blog (feed URL) or one post (post URL or id) down from every public page."""
    from aggregator.registry.edit import remove_feed

    now = to_iso(datetime.now(UTC))
    who = removed_by or getpass.getuser()
    conn = storage.connect(existing_db(db))
    try:
        feed_id = find_feed(conn, target)
        posts = [] if feed_id is not None else find_posts(conn, target)
        in_registry = remove_feed(config, target) if not posts else False
        if feed_id is not None:
            done = takedown.remove_blog(
                conn, feed_id, target=target, reason=reason, removed_by=who, now=now
            )
            said = f"blog taken down; {done.posts_removed} posts removed from public pages"
        elif posts:
            done = takedown.remove_posts(
                conn, posts, target=target, reason=reason, removed_by=who, now=now
            )
            said = f"{done.posts_removed} post(s) removed from public pages"
        else:
            feed_id = find_taken_down_feed(conn, target)
            if feed_id is None and not in_registry:
                raise ConfigError(
                    f"{target}: no feed in {config} or the database, and no post, has this "
                    "URL or id"
                )
            said = "already taken down" if feed_id is not None else "it had no posts stored"
        if purge:
            purged = takedown.purge(conn, feed_id=feed_id, post_ids=posts)
            said += f"; private copy of {purged} posts deleted"
    finally:
        conn.close()
    if posts:  # a post, not a blog: the registry is not involved
        click.echo(f"{target}: {said}; audit kept privately")
        return
    where = f"removed from {config}" if in_registry else f"not in {config}"
    click.echo(f"{target}: {where}; {said}; audit kept privately")
