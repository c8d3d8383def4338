"""Columns derived by today's rules, filled where a schema step left them empty.

Migration 0002 added `url_key` and `content_key` to posts stored before it
existed, 0015 `public_key`. Computing them is Voice's rule, not the schema's, so it happens here
after migrating, with the rules of the code that runs, like any new post.
"""

from __future__ import annotations

import sqlite3

from aggregator.analysis.identity import blog_slug, canonical_url, content_key, public_key


def fill_missing_keys(conn: sqlite3.Connection) -> int:
    """Set url_key and content_key on posts that have none; the number of posts filled."""
    posts = conn.execute(
        "SELECT id, url, title, text FROM posts WHERE content_key IS NULL"
    ).fetchall()
    conn.executemany(
        "UPDATE posts SET url_key = ?, content_key = ? WHERE id = ?",
        [
            (canonical_url(url) if url else None, content_key(title, text), i)
            for i, url, title, text in posts
        ],
    )
    return len(posts)


def fill_public_keys(conn: sqlite3.Connection) -> int:
    """Give each post that is not a tombstone and has none its public key; how many."""
    posts = conn.execute(
        "SELECT p.id, p.url_key, f.url, p.entry_key FROM posts AS p"
        " JOIN feeds AS f ON f.id = p.feed_id"
        " WHERE p.public_key IS NULL AND p.removed_at IS NULL"
    ).fetchall()
    conn.executemany(
        "UPDATE posts SET public_key = ? WHERE id = ?",
        [(public_key(url_key, feed_url, key), i) for i, url_key, feed_url, key in posts],
    )
    return len(posts)


def fill_missing_slugs(conn: sqlite3.Connection) -> int:
    """Give each live blog without one a unique slug for its page; never change one given.

    A taken-down blog has none: a slug made from its title would still name it.
    """
    missing = conn.execute(
        "SELECT id, title, site_url, url FROM feeds"
        " WHERE slug IS NULL AND removed_at IS NULL ORDER BY id"
    ).fetchall()
    if not missing:
        return 0
    taken = {r[0] for r in conn.execute("SELECT slug FROM feeds WHERE slug IS NOT NULL")}
    for feed_id, title, site_url, url in missing:
        base = blog_slug(title, site_url, url)
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        conn.execute("UPDATE feeds SET slug = ? WHERE id = ?", [slug, feed_id])
    return len(missing)
