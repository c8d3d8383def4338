"""The storage stage: SQLite, whose tables and views are Voice's public contract.

    schema       the numbered schema steps (DDL only, no Voice code): early, later
    private_schema  the private file's tables, created when absent
    migrations   applies them with sqlite-utils (its only user)
    keys         columns derived by today's rules, filled after migrating
    connection   connect (WAL, the private file attached, migrate when behind), transactions
    known        cheap reads before a cycle knows its work: entry hashes, blocks, upkeep
    posts        a fetch's entries: new posts, edits, moved GUIDs, topic rows
    updates      one fetch in one transaction: entries, feed state, fetch log
    duplicates   cross-feed copy links, inside the caller's transaction
    feeds        the feeds table: registry sync, due feeds, `voice status`
    choices      a member's display (full or excerpts) and pause, applied to stored posts
    corrections  editors' topic corrections: applied over tagging, who and when kept privately
    verification verification tokens (private) and verified blogs
    admin        whole-archive changes: retag, dedupe rebuild, re-cleaning, redirects
    takedown     a blog or a post out of the public file, kept privately for undo
    targets      which blog or post a takedown names (the normalised-URL rule)

`schema` is imported by `connection` and `migrations`, never the reverse.
"""

from aggregator.models import SaveResult  # what save_update returns, here for its callers
from aggregator.storage.connection import connect, transaction, tune_for_batches
from aggregator.storage.known import known_entries
from aggregator.storage.updates import save_update, save_updates
from aggregator.storage.verification import (
    mark_verified,
    set_verification_token,
    token_in,
    unverified_tokens,
    verification_token,
)

__all__ = [
    "SaveResult",
    "connect",
    "known_entries",
    "mark_verified",
    "save_update",
    "save_updates",
    "set_verification_token",
    "token_in",
    "transaction",
    "tune_for_batches",
    "unverified_tokens",
    "verification_token",
]
