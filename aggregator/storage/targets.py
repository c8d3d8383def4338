"""Which blog or post a takedown or a member's request names: one matching rule everywhere.

A feed URL matches by the registry's normalised-URL rule (scheme, case,
default port and trailing slash do not matter); a post by its URL, its
canonical form or its id. Shared by `voice remove` and the status link.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from aggregator.analysis.identity import canonical_url
from aggregator.registry.feeds import normalise_feed_url


def find_feed(conn: sqlite3.Connection, target: str) -> int | None:
    """The live feed registered at `target`, by the normalised-URL rule."""
    return _match(conn.execute("SELECT id, url FROM feeds WHERE removed_at IS NULL"), target)


def find_taken_down_feed(conn: sqlite3.Connection, target: str) -> int | None:
    """A blog already taken down at `target` (its URL is kept in the private file only)."""
    return _match(conn.execute("SELECT feed_id, url FROM private.removed_feeds"), target)


def _match(feeds: Iterable[tuple[int, str]], target: str) -> int | None:
    wanted = normalise_feed_url(target)
    return next((int(i) for i, url in feeds if normalise_feed_url(url) == wanted), None)


def find_posts(conn: sqlite3.Connection, target: str) -> list[int]:
    """Public posts at `target` (a post URL, any spelling of it) or with that id."""
    if target.isdigit():
        found = conn.execute(
            "SELECT id FROM posts WHERE id = ? AND removed_at IS NULL", [int(target)]
        ).fetchall()
    else:
        found = conn.execute(
            "SELECT id FROM posts WHERE removed_at IS NULL AND (url = ? OR url_key = ?)",
            [target, canonical_url(target) or target],
        ).fetchall()
    return [int(r[0]) for r in found]
