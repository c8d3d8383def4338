"""What is already stored, read cheaply before a cycle knows it has work to do.

A feed's entry hashes and the blocks of its last document (for the parser to
skip what has not changed), and which version of an archive-wide task last
ran. Kept apart from `posts` and `admin`: their analysis and linking load only
when a fetch brings posts or the rules change, so a cycle of 304s never pays
for importing them (issue 13: start-up is a quarter of a warm cycle).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence


def known_entries(
    conn: sqlite3.Connection, feed_id: int
) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """What the parser needs to skip unchanged entries: entry_key -> raw_hash, and the
    blocks of the document last read (block hash -> entry_key, raw_hash)."""
    rows = conn.execute("SELECT entry_key, raw_hash FROM posts WHERE feed_id = ?", [feed_id])
    known = {r[0]: r[1] for r in rows}
    found = conn.execute("SELECT blocks FROM private.entry_blocks WHERE feed_id = ?", [feed_id])
    stored = found.fetchone()
    blocks = {b: (k, r) for b, k, r in json.loads(stored[0])} if stored else {}
    return known, blocks


def save_blocks(
    conn: sqlite3.Connection, feed_id: int, blocks: Sequence[tuple[str, str, str]]
) -> None:
    """Keep the blocks of the document just read, for the next fetch (parsing/blocks.py)."""
    conn.execute(
        "INSERT OR REPLACE INTO private.entry_blocks (feed_id, blocks) VALUES (?, ?)",
        [feed_id, json.dumps(blocks, separators=(",", ":"))],
    )


def upkeep_version(conn: sqlite3.Connection, task: str) -> str | None:
    """Which version of `task` last ran over the whole archive (private file)."""
    row = conn.execute("SELECT version FROM private.upkeep WHERE task = ?", [task]).fetchone()
    return row[0] if row else None
