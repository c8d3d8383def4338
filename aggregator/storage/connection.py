"""Opening the database and writing to it: WAL, one short transaction at a time.

WAL lets Datasette read while the fetcher writes; each write is one BEGIN
IMMEDIATE transaction, so a crash leaves every feed either fully old or fully
new, and a writer never waits half-way through for a lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aggregator.errors import StoreError
from aggregator.storage.keys import fill_missing_keys, fill_missing_slugs, fill_public_keys
from aggregator.storage.private_schema import PRIVATE_SCHEMA
from aggregator.storage.schema import MIGRATION_SET, MIGRATIONS

BUSY_TIMEOUT_MS = 15_000
SCHEDULABLE = "status NOT IN ('gone', 'removed') AND paused = 0"


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database."""
    if not path.parent.exists():
        raise StoreError(f"{path.parent}: directory does not exist (pass --db PATH)")
    try:
        # check_same_thread=False: the update stage hands the connection to its one
        # writer thread; it is never used from two threads at once.
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint every ~40 MB of WAL instead of 4 MB: the FTS index pages a
        # cycle rewrites in every transaction are then copied back once, not
        # dozens of times (about a tenth less CPU on a cold cycle).
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        # Deleted and overwritten content is zeroed in the file, so a takedown
        # leaves nothing behind in free space that a page of SQL could reach.
        conn.execute("PRAGMA secure_delete = ON")
        attach_private(conn, path)
        if not _up_to_date(conn):
            from aggregator.storage.migrations import apply_migrations

            with transaction(conn):
                apply_migrations(conn)
                fill_missing_keys(conn)
                fill_public_keys(conn)
                fill_missing_slugs(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the database: {exc}") from exc
    return conn


# The cycle's writer keeps this many KiB of the public file's pages in
# memory: enough for a batch of feeds' dirty pages (update/gates.Batches),
# so they reach the WAL once, at its commit, not each time the cache spills.
WRITER_CACHE_KIB = 16_384


def tune_for_batches(conn: sqlite3.Connection) -> None:
    """Set up the update cycle's writer connection for many feeds to a transaction.

    A post's insert fires triggers and checks foreign keys, so SQLite keeps
    a statement journal of every page it changes; on disk that was 1.3 GB of
    temporary files for 10,000 new posts. In memory it is one statement's
    pages at a time, which for a feed's writes is small; so only this
    connection holds it there, not the maintenance commands, one of whose
    statements may change every page of the archive.
    """
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"PRAGMA main.cache_size = -{WRITER_CACHE_KIB}")


def private_path(path: Path) -> Path:
    """The private file beside a public database: voice.db -> voice-private.db."""
    return path.with_name(f"{path.stem}-private.db")


def attach_private(conn: sqlite3.Connection, path: Path) -> None:
    """Attach the private file as `private` (created with its tables when absent).

    Datasette is only ever given the public file; everything the public may
    not see (takedown audit and content, member details of removed blogs,
    the technical detail of errors) is written here, by the same connection.
    """
    conn.execute("ATTACH DATABASE ? AS private", [str(private_path(path))])
    conn.execute("PRAGMA private.journal_mode = WAL")
    # As durable as the public file (connect): `PRAGMA synchronous` set there
    # names only `main`, and an attached file's default, FULL, waited for the
    # disk at every commit that touched it (each feed's, for its fetch record).
    conn.execute("PRAGMA private.synchronous = NORMAL")
    conn.execute("PRAGMA private.secure_delete = ON")
    conn.executescript(PRIVATE_SCHEMA)


def _up_to_date(conn: sqlite3.Connection) -> bool:
    try:
        rows = conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [MIGRATION_SET]
        )
    except sqlite3.OperationalError:  # a new database: no migrations table yet
        return False
    return set(MIGRATIONS) <= {row[0] for row in rows}


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE: take the write lock up front so we never deadlock mid-way.

    Any SQLite failure rolls everything back and becomes a StoreError, which
    the CLI reports in one line (exit 3).
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot write to the database: {exc}") from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"cannot write to the database: {exc}") from exc
        raise
