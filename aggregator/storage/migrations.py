"""Apply the schema's steps with sqlite-utils Migrations; the only sqlite-utils user.

Imported only when a database is behind (see connection.connect), so opening
an up-to-date database costs no sqlite-utils import.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import sqlite_utils
from sqlite_utils.migrations import Migrations

from aggregator.storage.schema import MIGRATION_SET, STEPS

migrations = Migrations(MIGRATION_SET)
for _name, _step in STEPS:
    migrations(name=_name)(_step)


def statements(script: str) -> Iterator[str]:
    """The statements of a script, as sqlite-utils splits one inside a transaction.

    sqlite-utils tries `complete_statement` after every character, joining
    the text so far each time: quadratic in a statement's length, and a
    tenth of a second of every new database (each test's, each cold
    cycle's). A statement can only end at a semicolon, so trying there
    alone yields the same statements.
    """
    start, end = 0, script.find(";")
    while end >= 0:
        statement = script[start : end + 1].strip()
        if statement and sqlite3.complete_statement(statement):
            yield statement
            start = end + 1
        end = script.find(";", end + 1)
    rest = script[start:].strip()
    if rest:
        yield rest


class _Database(sqlite_utils.Database):
    def _executescript(self, sql: str) -> sqlite3.Cursor:
        """Statement by statement in the caller's transaction (sqlite3's own would commit).

        sqlite-utils' `executescript` (after its tracer) and its own count
        triggers call this; outside a transaction it is sqlite-utils' as before.
        """
        if not self.conn.in_transaction:
            return super()._executescript(sql)
        cursor = self.conn.cursor()
        for statement in statements(sql):
            cursor.execute(statement)
        return cursor


def apply_migrations(conn: sqlite3.Connection) -> None:
    """Apply pending migrations inside the caller's transaction."""
    migrations.apply(_Database(conn))
