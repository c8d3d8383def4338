"""Apply the schema's steps with sqlite-utils Migrations; the only sqlite-utils user.

Imported only when a database is behind (see connection.connect), so opening
an up-to-date database costs no sqlite-utils import.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils
from sqlite_utils.migrations import Migrations

from aggregator.storage.schema import MIGRATION_SET, STEPS

migrations = Migrations(MIGRATION_SET)
for _name, _step in STEPS:
    migrations(name=_name)(_step)


def apply_migrations(conn: sqlite3.Connection) -> None:
    """Apply pending migrations inside the caller's transaction."""
    migrations.apply(sqlite_utils.Database(conn))
