"""Verified ownership: a member proves a blog is theirs by publishing a token in it.

The token is not a secret (it is meant to be pasted into a public post, e.g.
`<meta name="localgov-voice" content="TOKEN">`), but it is member-admin data,
so it lives in the private file (`private.verifications`). The public file
says only when the blog was verified (`feeds.verified_at`). Tokens are keyed
by feed URL, so one can be issued before the blog is in feeds.yaml; a blog
that joins later starts verified if its token was already found.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from html.parser import HTMLParser

from aggregator.errors import ConfigError
from aggregator.storage.connection import transaction

MIN_TOKEN_CHARS = 16  # short tokens could turn up in a feed by chance


def set_verification_token(conn: sqlite3.Connection, feed_url: str, token: str) -> None:
    """Give a blog its token; a new token for the same blog replaces the old one.

    A blog already verified stays verified: the token is how a member proves
    ownership once, not a password to keep.
    """
    if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or token != token.strip():
        raise ConfigError(
            f"a verification token needs at least {MIN_TOKEN_CHARS} visible characters"
        )
    with transaction(conn):
        conn.execute(
            """
            INSERT INTO private.verifications (feed_url, token) VALUES (?, ?)
            ON CONFLICT (feed_url) DO UPDATE SET token = excluded.token
            """,
            [feed_url, token],
        )


def verification_token(conn: sqlite3.Connection, feed_url: str) -> str | None:
    """The blog's token, or None when none was issued."""
    row = conn.execute(
        "SELECT token FROM private.verifications WHERE feed_url = ?", [feed_url]
    ).fetchone()
    return row[0] if row else None


def mark_verified(conn: sqlite3.Connection, feed_url: str, at: str) -> bool:
    """Record that the blog's token was found; True when this verified it just now.

    False when it has no token, or was verified already (the first time is
    kept). feeds.verified_at is set too when the blog is registered.
    """
    with transaction(conn):
        changed = conn.execute(
            "UPDATE private.verifications SET verified_at = ?"
            " WHERE feed_url = ? AND verified_at IS NULL",
            [at, feed_url],
        ).rowcount
        if changed:
            conn.execute(
                "UPDATE feeds SET verified_at = ? WHERE url = ? AND verified_at IS NULL",
                [at, feed_url],
            )
    return bool(changed)


def unverified_tokens(conn: sqlite3.Connection) -> Mapping[str, str]:
    """feed URL -> token for the blogs a fetch should look for a token in."""
    rows = conn.execute(
        "SELECT feed_url, token FROM private.verifications WHERE verified_at IS NULL"
    )
    return {r[0]: r[1] for r in rows}


def token_in(body: bytes, token: str) -> bool:
    """Whether a fetched feed carries the token (raw bytes: markup or escaped text).

    Anywhere in a feed is enough: only the blog's author publishes its posts.
    """
    return len(token) >= MIN_TOKEN_CHARS and token.encode("utf-8") in body


def home_pages(conn: sqlite3.Connection) -> Mapping[str, str]:
    """feed URL -> home page (feeds.site_url: feeds.yaml's, else the feed's own link)
    for the blogs whose token is still to be found."""
    rows = conn.execute(
        "SELECT f.url, f.site_url FROM feeds AS f JOIN private.verifications AS v"
        " ON v.feed_url = f.url WHERE v.verified_at IS NULL AND f.site_url IS NOT NULL"
    )
    return {r[0]: r[1] for r in rows}


class _MetaTags(HTMLParser):
    """The content of each `<meta name="localgov-voice">` before the page's body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._in_body = True
        if tag != "meta" or self._in_body:
            return
        values = {name: (value or "").strip() for name, value in attrs}
        if values.get("name", "").lower() == "localgov-voice":
            self.found.append(values.get("content", ""))


def meta_token_in(page: bytes, token: str) -> bool:
    """Whether a home page carries `<meta name="localgov-voice" content="TOKEN">`.

    Only that tag, and only in the head: a home page shows what readers wrote
    (comments, a guestbook), so the token as text there proves nothing. Any
    attribute order, quoting and case is accepted.
    """
    if len(token) < MIN_TOKEN_CHARS or token.encode("utf-8") not in page:
        return False  # the usual case, without parsing the page
    parser = _MetaTags()
    parser.feed(page.decode("utf-8", errors="replace"))
    parser.close()
    return token in parser.found


def copy_verified(conn: sqlite3.Connection) -> None:
    """Inside the caller's transaction: registered blogs whose token was found are verified."""
    conn.execute(
        """
        UPDATE feeds SET verified_at = v.verified_at
        FROM private.verifications AS v
        WHERE v.feed_url = feeds.url AND v.verified_at IS NOT NULL
          AND feeds.verified_at IS NULL AND feeds.removed_at IS NULL
        """
    )
