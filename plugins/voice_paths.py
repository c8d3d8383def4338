"""Where the database lives on disk is not public.

Datasette's /-/databases page gives each file's absolute path, and
`select * from pragma_database_list` through ?sql= does too: both tell an
outsider about the server's layout. The page answers the same list without
paths; the pragma's `file` column reads as NULL on every connection.
Reads only the database contract; never imports aggregator.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response


def _no_file_column(action: int, table: str | None, column: str | None, *_: Any) -> int:
    if action == sqlite3.SQLITE_READ and table == "pragma_database_list" and column == "file":
        return sqlite3.SQLITE_IGNORE  # the value reads as NULL; the query still runs
    return sqlite3.SQLITE_OK


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    conn.set_authorizer(_no_file_column)


async def _databases(datasette: Any, request: Any) -> Response:
    listed = [
        {
            "name": db.name,
            "route": db.route,
            "is_mutable": db.is_mutable,
            "is_memory": db.is_memory,
            "hash": None,
        }
        for db in datasette.databases.values()
        if not db.name.startswith("_")
    ]
    if request.url_vars.get("format") == "json" or request.path.endswith(".json"):
        return Response.json(listed)
    lines = "".join(f"<li>{item['name']}</li>" for item in listed)
    return Response.html(f"<!DOCTYPE html><html lang='en'><title>Databases</title><ul>{lines}</ul>")


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/databases(\.(?P<format>json))?$", _databases)]
